"""Nothing a student's code made reaches anyone outside the sandbox alive, unbounded or through a link.

* Files: what the kernel left in its folder that is not a regular file is removed right after the
  kernel (:class:`RemoveKernelLeftovers`), before nbgrader writes, copies or chmods there; files
  leave a student's folder only by :func:`copy_regular_files`.
* Notebooks: the autograded notebook (what the formgrader shows and the feedback is made from) is
  made inert and bounded by :func:`sanitize_notebook` (bleach, size caps) before the feedback.
"""

import html
import json
import os
import re
import shutil
import stat
from pathlib import Path

import bleach
import nbformat
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

FIELD_CAP = 1_000_000  # characters of one output field (--max-output's default for a whole cell)
NOTEBOOK_CAP = 20_000_000  # characters of all the outputs of a notebook
TAGS = set(
    "a abbr b blockquote br caption code dd del details div dl dt em figcaption figure h1 h2 h3 h4 h5 "
    "h6 hr i img kbd li mark ol p pre q s samp small span strong sub summary sup table tbody td tfoot "
    "th thead tr u ul var".split()
)
# outputs kept; JavaScript, widgets, SVG (XML that may hold scripts) and the rest are dropped
KEPT_OUTPUTS = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg")


# --------------------------------------------------------------------------------------------
# Files


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"))
    return next((kind for test, kind in kinds if test(mode)), "device")


def _entries(folder: Path, skip=frozenset(), prefix=""):
    """(relative name, path, lstat mode) of everything under ``folder``, following no link."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name in skip:
            continue
        mode = entry.stat(follow_symlinks=False).st_mode
        yield prefix + entry.name, Path(entry.path), mode
        if stat.S_ISDIR(mode):
            yield from _entries(Path(entry.path), skip, f"{prefix}{entry.name}/")


def copy_regular_files(source: Path, target: Path, skip=frozenset()) -> list[str]:
    """Copy the regular files and real folders under ``source`` into a new ``target``; return what was
    left out ('name (symlink)', fifo, socket, device). Nothing is followed (``lstat``, ``O_NOFOLLOW``).

    A file is copied by content into a new file with default permissions, so nothing done to the
    copy (nbgrader's chmod) reaches another file. A hard link (``st_nlink > 1``) is copied the same
    way: made in the sandbox it can only name a file of the same folder (the writable folder is its
    own mount, and ``link(2)`` does not cross mounts), so its content is the student's own."""
    left_out = []
    target.mkdir(parents=True)
    for name, path, mode in _entries(source, skip):
        if stat.S_ISDIR(mode):
            (target / name).mkdir()
            continue
        if stat.S_ISREG(mode):
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with open(descriptor, "rb") as src:
                if stat.S_ISREG(os.fstat(descriptor).st_mode):
                    with open(target / name, "xb") as copy:
                        shutil.copyfileobj(src, copy)
                    continue
        left_out.append(f"{name} ({_kind(mode)})")
    return left_out


def purge_special_files(folder: Path) -> list[str]:
    """Remove everything under ``folder`` that is neither a regular file nor a real folder."""
    removed = []
    for name, path, mode in list(_entries(folder)):
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            path.unlink()
            removed.append(f"{name} ({_kind(mode)})")
    return removed


EVENTS: list[dict] = []  # what the grading of the current student recorded (autograder/student.py)


class RemoveKernelLeftovers(Preprocessor):
    """Right after the kernel (``nbgrader autograde``): remove what it left in its working folder that
    is not a regular file, before nbgrader writes, copies or chmods there; record it in EVENTS."""

    enabled = Bool(True)  # nbgrader registers preprocessors without enabling them

    def preprocess(self, nb, resources):
        folder = resources.get("metadata", {}).get("path")
        removed = purge_special_files(Path(folder)) if folder else []
        if removed:
            EVENTS.append({"event": "not_regular", "cell": None, "detail": ", ".join(removed)})
        return nb, resources


# --------------------------------------------------------------------------------------------
# Notebooks


def _allowed(tag: str, name: str, value: str) -> bool:
    if name in ("href", "src"):  # links to the web, mail or the page; images only as PNG or JPEG data
        ok = {"a": ("http://", "https://", "mailto:", "#"), "img": ("data:image/png;", "data:image/jpeg;")}
        return value.startswith(ok.get(tag, ("\0",)))
    return name in ("class", "title", "alt", "width", "height", "colspan", "rowspan") or (
        name == "id" and re.fullmatch("h[1-6]", tag) is not None  # heading anchors
    )


def clean_html(text: str) -> str:
    protocols = {"http", "https", "mailto", "data"}
    return bleach.clean(
        text, tags=TAGS, attributes=_allowed, protocols=protocols, strip=True, strip_comments=True
    )


def inert_markdown(source: str, attachments: dict | None = None) -> str:
    """Markdown rendered as nbconvert does, cleaned, as one HTML block (no blank line: Markdown keeps
    it as it stands, so a ``[link](javascript:...)`` cannot come back)."""
    if not source.strip():
        return source
    try:
        renderer = IPythonRenderer(escape=False, attachments=attachments)
        rendered = MarkdownWithMath(renderer=renderer).render(source)
    except Exception:  # noqa: BLE001 - a missing attachment, say: show the text
        rendered = f"<pre>{html.escape(source)}</pre>"
    cleaned = clean_html(rendered).strip()
    cleaned = cleaned if cleaned.startswith("<div") else f"<div>\n{cleaned}\n</div>"
    return re.sub(r"(?m)^[ \t]*$", "\u200b", cleaned)


CLEANERS = {"text/html": clean_html, "text/markdown": inert_markdown}


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _cap(text: str) -> tuple[str, int]:
    """At most FIELD_CAP characters, a note included (so capping again cuts nothing)."""
    cut = len(text) - FIELD_CAP + 100 if len(text) > FIELD_CAP else 0
    note = f"\n[autograder] too large for the grader, cut: {cut:,} characters\n" if cut else ""
    return text[: len(text) - cut] + note, cut


def _number(value) -> int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def inert_output(output: dict) -> int:
    """Make one output inert and capped, in place; return the characters cut."""
    cut = 0
    for key in ("text", "ename", "evalue"):
        if key in output:
            output[key], lost = _cap(_text(output[key]))
            cut += lost
    if "traceback" in output:
        joined, lost = _cap("\n".join(map(_text, output["traceback"])))
        output["traceback"], cut = [joined] if lost else output["traceback"], cut + lost
    data = output.get("data", {})
    for mime in list(data):
        value = _text(data.pop(mime))
        kept, lost = _cap(value)
        if mime in KEPT_OUTPUTS and not (lost and mime.startswith("image/")):  # a cut image is no image
            data[mime], cut = CLEANERS.get(mime, str)(kept), cut + lost
        elif lost:
            data["text/plain"] = (
                f"[autograder] {mime} too large for the grader, cut: {len(value):,} characters"
            )
            cut += len(value)
    if "metadata" in output:  # only image sizes (a template writes them unquoted)
        meta = output["metadata"] if isinstance(output["metadata"], dict) else {}
        output["metadata"] = {
            mime: {key: meta[mime][key] for key in ("width", "height") if _number(meta[mime].get(key))}
            for mime in ("image/png", "image/jpeg")
            if isinstance(meta.get(mime), dict)
        }
    if "execution_count" in output:
        output["execution_count"] = _number(output["execution_count"])
    return cut


def sanitize_notebook(nb) -> list[str]:
    """Make an nbformat-4 notebook inert and bounded, in place; return the cells cut for size."""
    cut_cells, budget = [], NOTEBOOK_CAP
    meta = nb.get("metadata", {})
    nb["metadata"] = {
        k: v for k, v in meta.items() if k in ("kernelspec", "language_info") and len(json.dumps(v)) < 9999
    }
    for index, cell in enumerate(nb.get("cells", [])):
        meta = cell.get("metadata", {})
        name = meta.get("nbgrader", {}).get("grade_id") or f"cell {index}"
        cell["metadata"] = {"nbgrader": meta["nbgrader"]} if "nbgrader" in meta else {}
        cut, outputs = 0, cell.get("outputs", [])
        grading = meta.get("nbgrader", {})
        course_text = grading.get("locked") and not grading.get("solution")  # nbgrader restored it: ours
        if cell.get("cell_type") in ("markdown", "raw") and not course_text:
            source, cut = _cap(_text(cell.get("source", "")))
            attachments = {
                k: v
                for k, v in (cell.pop("attachments", None) or {}).items()
                if len(json.dumps(v)) < FIELD_CAP
            }
            markdown = cell["cell_type"] == "markdown"
            cell["source"] = inert_markdown(source, attachments) if markdown else clean_html(source)
        elif cell.get("cell_type") == "code":
            cell["execution_count"] = _number(cell.get("execution_count"))
        for position, output in enumerate(outputs):
            cut += inert_output(output)
            budget -= len(json.dumps(output))
            if budget < 0:  # this output and the rest of the cell's
                lost = sum(len(json.dumps(o)) for o in outputs[position:])
                note = f"[autograder] the notebook's outputs are too large for the grader, cut: {lost:,} characters\n"
                cell["outputs"], cut = (
                    [*outputs[:position], nbformat.v4.new_output("stream", text=note)],
                    cut + lost,
                )
                break
        if cut:
            cut_cells.append(name)
    return cut_cells


def sanitize_file(path: Path) -> list[str]:
    """:func:`sanitize_notebook` on a notebook file of the grader's (replaced: it may be read-only)."""
    nb = nbformat.read(path, as_version=4)
    cut = sanitize_notebook(nb)
    nbformat.write(nb, path.with_name(f".{path.name}.partial"))
    os.replace(path.with_name(f".{path.name}.partial"), path)
    return cut
