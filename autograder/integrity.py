"""Check and repair a submitted notebook against the released one, before nbgrader sees it.

nbgrader restores a test or locked cell that a student *edited* (checksums), but silently skips one
that was *deleted*, and drops the metadata of duplicated ones. Before autograding, the grader:

* re-inserts every deleted locked or graded cell (tests, set-up code, graded written answers) from
  the release, at its place (after the nearest earlier cell that is still there);
* puts back the release's nbgrader metadata of every known cell (points, locked, grade flags);
* strips nbgrader metadata that names a cell the assignment does not have;
* lists edited, duplicated and deleted cells, and code that looks like it patches the grading
  environment (``np.testing.assert_allclose = ...``, ``builtins``, ``set_custom_exc``, ...), for the
  CSV's ``reason``.

Deleted *ungraded* solution code cells are not re-inserted: their release version is a stub that
raises ``NotImplementedError`` and would overwrite a function the student defined elsewhere.
"""

import ast
import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HIDDEN_MARKER = re.compile(r"#+\s*(BEGIN|END) HIDDEN TESTS")
SUSPICIOUS_CODE = [
    (re.compile(r"\b(np|numpy|keras|tf|tensorflow)(\.\w+)+\s*=(?!=)"), r"assigns to an attribute of \1"),
    (re.compile(r"\bsetattr\(\s*(np|numpy|keras|tf|builtins)\b"), "setattr/delattr on a module or the shell"),
    (re.compile(r"\bimport\s+builtins\b|\b__builtins__\b"), "touches builtins"),
    (re.compile(r"\bsys\.modules\s*\["), "edits sys.modules"),
    (re.compile(r"\bos\._exit\b|\bos\.kill\b|\bsignal\.signal\b"), "kills or signals the kernel"),
    (re.compile(r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b"), "uses the network"),
    (re.compile(r"\bsubprocess\b|\bos\.system\b|\bos\.popen\b"), "runs shell commands"),
    (re.compile(r"gradebook|autograded|solutions/|\.\./\.\."), "reads outside its folder"),
]
# Names student code has no reason to touch, found (AST) in attributes, imports and constant strings
# (also "settr" + "ace"); "name=" counts only when assigned, "name(" only as a bare name (exec, not re.compile).
STATIC_FLAG_TABLE = """
registers an IPython transformer or cell hook: input_transformers_cleanup input_transformers_post
  ast_transformers input_transformer_manager prefilter_manager register_magic_function register_magics
  register_cell_magic register_line_cell_magic events.register events.unregister events.callbacks
  pre_run_cell post_run_cell pre_execute post_execute
installs an interpreter hook (trace, profile, audit, import or exception): settrace setprofile
  settrace_all_threads setprofile_all_threads sys.monitoring addaudithook excepthook meta_path path_hooks
replaces the display or reply machinery: display_pub displayhook display_formatter send_response session.send
  iopub_socket run_cell run_cell_async showtraceback showsyntaxerror _showtraceback set_custom_exc CustomTB
  sys.stdout= sys.stderr= builtins.print=
reads interpreter frames: _getframe _current_frames currentframe inspect.stack inspect.trace getouterframes
  getinnerframes walk_stack walk_tb f_back f_locals f_globals f_builtins tb_frame gi_frame cr_frame __traceback__
uses the grader's machinery: autograder nbgrader kernel_server _autograder_install_rpc _autograder_rpc
imports a module by a computed name: __import__ import_module
runs code from a string (exec/eval/compile): exec( eval( compile(
decodes hidden code (base64/codecs/marshal): base64 codecs.decode marshal
writes to globals()/vars()/__dict__ by key: globals.[]= vars.[]= __dict__.[]= globals.update vars.update
  __dict__.update globals.setdefault vars.setdefault __dict__.setdefault globals.__setitem__ vars.__setitem__
uses ctypes/gc introspection: ctypes gc.get_referrers gc.get_referents gc.get_objects
"""
STATIC_FLAGS = {
    name: label
    for label, names in re.findall(r"^(\S[^:]*): (.*(?:\n .*)*)", STATIC_FLAG_TABLE, re.M)
    for name in names.split()
}
FALLBACK = re.compile(  # the same names in code that does not parse (no "settr" + "ace" there)
    "|".join(r"(?<![\w.])" * (key[-1] == "(") + rf"(?<!\w){re.escape(key)}(?!\w)" for key in STATIC_FLAGS)
    .replace("=(?!\\w)", r"\s*=(?!=)")
    .replace(r"\((?!\w)", r"\s*\(")
)
MAGIC_LINE = re.compile(r"^([ \t]*)[%!].*$", re.M)
NUMPY_ONLY = {"numpy_rnn", "lstm_gru_cells", "bptt", "char_rnn"}
KERAS = "uses Keras/TensorFlow in a NumPy-only solution"
SENSITIVE = set("sys builtins inspect threading os gc importlib ctypes IPython get_ipython".split())
PATCHABLE = SENSITIVE | {"np", "numpy", "tf", "tensorflow", "keras"}


@dataclass
class IntegrityReport:
    """What :func:`repair` found in one notebook."""

    notebook: str
    restored: list[str] = field(default_factory=list)  # deleted cells put back
    deleted_solutions: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)  # locked cells whose text changed (nbgrader restores)
    metadata_fixed: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)

    @property
    def tampered(self) -> bool:
        return bool(self.restored or self.edited or self.metadata_fixed or self.duplicated or self.unknown)

    def reasons(self) -> list[str]:
        out = []
        for label, items in (
            ("deleted cells restored", self.restored),
            ("edited locked/test cells restored", self.edited),
            ("cell metadata restored", self.metadata_fixed),
            ("duplicated cells (only the last copy graded, extra test copies removed)", self.duplicated),
            ("unknown nbgrader cells ignored", self.unknown),
            ("solution cells deleted", self.deleted_solutions),
        ):
            if items:
                out.append(f"{self.notebook}: {label}: {', '.join(items)}")
        if self.suspicious:
            out.append(f"{self.notebook}: flagged for review: {'; '.join(self.suspicious)}")
        return out


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _grade_id(cell) -> str | None:
    return _meta(cell).get("grade_id")


def _is_protected(cell) -> bool:
    """Cells a student must keep: locked cells and graded cells (tests, graded written answers)."""
    meta = _meta(cell)
    return bool(meta.get("locked") or meta.get("grade"))


def _normalized(source) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _fresh_copy(cell):
    new = copy.deepcopy(cell)
    if new.cell_type == "code":
        new.outputs = []
        new.execution_count = None
    new.pop("id", None)
    return new


def _chain(node) -> list[str]:
    """['sys', 'settrace'] for sys.settrace; calls and subscripts are looked through (get_ipython().events)."""
    parts = []
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        parts[:0] = [node.attr] if isinstance(node, ast.Attribute) else []
        node = node.func if isinstance(node, ast.Call) else node.value
    return [node.id, *parts] if isinstance(node, ast.Name) else parts


@functools.cache  # cleared after each notebook
def _const(node) -> str | None:
    """A string built from constants ("settr" + "ace", f"{'sys'}", "".join([...])), else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    sep, parts = "", [node.value] if isinstance(node, ast.FormattedValue) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [node.left, node.right]
    elif isinstance(node, ast.JoinedStr):
        parts = node.values
    elif isinstance(node, ast.Call) and _chain(node.func)[-1:] == ["join"] and node.args:
        sep, parts = _const(node.func.value), getattr(node.args[0], "elts", None)
    parts = [_const(part) for part in parts] if parts else [None]
    return None if sep is None or None in parts else sep.join(parts)


def _static_flags(code: str, numpy_only: bool) -> list[str]:
    """Flags from the AST of ``code``; a regular-expression scan of what does not parse (magics, shell)."""
    rest = "\n".join(m.group() for m in MAGIC_LINE.finditer(code))
    try:
        tree = ast.parse(MAGIC_LINE.sub(r"\1pass", code))
    except (SyntaxError, ValueError):
        tree, rest = ast.Module([], []), code
    found = [STATIC_FLAGS[re.sub(r"\s", "", m.group())] for m in FALLBACK.finditer(rest)]
    found += [KERAS] * bool(numpy_only and re.search(r"\b(keras|tf|tensorflow)\.", rest))
    aliases = {  # {name an import binds: the dotted name it stands for}
        a.asname or a.name: a.name if isinstance(n, ast.Import) else f"{n.module}.{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }

    def flag(parts, marker="", code=True):  # parts: a dotted name, its first part resolved via imports
        parts = [*aliases.get(parts[0], parts[0]).split("."), *parts[1:]] if parts else [""]
        keys = {".".join(parts[i : i + k]) for i in range(len(parts)) for k in (1, 2)}  # no key has 3 parts
        keys |= {".".join(parts[-k:]) + marker for k in (1, 2)}
        found.extend(STATIC_FLAGS[key] for key in sorted(keys & STATIC_FLAGS.keys()))
        found.extend([KERAS] * (numpy_only and code and parts[0] in ("keras", "tf", "tensorflow")))
        return parts[0]

    for node in [*(ast.Name(name) for name in aliases.values()), *ast.walk(tree)]:
        if isinstance(node, ast.Attribute):
            flag(_chain(node), "=" if isinstance(node.ctx, ast.Store) else "")
        elif isinstance(node, ast.Name):
            flag(node.id.split("."), "(")
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            flag([*_chain(node.value), "[]"], "=")
        if re.fullmatch(r"[\w.]+", text := (_const(node) or "").strip()):
            flag(text.split("."), code=False)
        if not isinstance(node, ast.Call):
            continue
        callee, texts = ([""] + _chain(node.func))[-1], [_const(arg) for arg in node.args]
        if callee in ("exec", "eval", "compile", "run_cell", "run_line_magic", "run_cell_magic"):
            found += [label for text in filter(None, texts) for label in _static_flags(text, numpy_only)]
        if callee in ("setattr", "delattr", "getattr") and isinstance(node.func, ast.Name) and len(texts) > 1:
            root = flag([*_chain(node.args[0]), *(texts[1] or "").split(".")], "=" * (callee == "setattr"))
            if callee != "getattr" and root in PATCHABLE | {name.split(".")[0] for name in aliases.values()}:
                found.append("setattr/delattr on a module or the shell")
            elif callee == "getattr" and texts[1] is None and root in SENSITIVE:
                found.append("getattr of a computed name on a module")
    return found


def scan_suspicious(notebook, assignment: str | None = None) -> list[str]:
    """'what (cell id)' for code in the student's cells (not the course's locked or test cells) that patches
    or inspects the grading environment, or, in a NumPy-only assignment's solution cells, uses Keras."""
    findings = []
    for index, cell in enumerate(notebook.cells):
        meta, where = _meta(cell), f"cell {_grade_id(cell) or index}"
        if cell.cell_type != "code" or meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            continue
        code = "\n".join(line.split("#", 1)[0] for line in str(cell.source).splitlines())
        found = [m.expand(label) for pattern, label in SUSPICIOUS_CODE for m in pattern.finditer(code)]
        numpy_only = assignment in NUMPY_ONLY and bool(meta.get("solution"))
        try:
            found += _static_flags(str(cell.source), numpy_only)
        except Exception as error:  # too deeply nested (RecursionError, MemoryError), or a bug here
            found.append(f"code the scan could not read ({type(error).__name__})")
        findings += [f"{label} ({where})" for label in found]
    _const.cache_clear()
    return list(dict.fromkeys(findings))[:8]


MEANINGFUL_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task")


def _meaningful(meta: dict) -> dict:
    return {key: meta.get(key) for key in MEANINGFUL_KEYS if meta.get(key) not in (None, False)}


def repair(submitted, release, notebook_name: str, source=None, assignment: str | None = None):
    """Return (repaired notebook, report); ``submitted`` is not modified.

    ``release`` is the student version (the reference for metadata and for re-inserted cells);
    ``source`` (optional) the instructor version: a locked cell matching either is not "edited".
    """
    notebook = copy.deepcopy(submitted)
    report = IntegrityReport(notebook_name)
    release_cells = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    accepted = {gid: {_normalized(c.source)} for gid, c in release_cells.items()}
    for cell in source.cells if source is not None else []:
        if _grade_id(cell) in accepted:
            accepted[_grade_id(cell)].add(_normalized(cell.source))
    release_order = [_grade_id(c) for c in release.cells if _grade_id(c)]

    # Unknown ids, duplicates, metadata and edited text of known cells.
    seen: dict[str, int] = {}
    for cell in notebook.cells:
        grade_id = _grade_id(cell)
        if grade_id is None:
            if "nbgrader" in cell.get("metadata", {}):
                del cell.metadata["nbgrader"]
            continue
        if grade_id not in release_cells:
            report.unknown.append(grade_id)
            del cell.metadata["nbgrader"]
            continue
        seen[grade_id] = seen.get(grade_id, 0) + 1
        source = release_cells[grade_id]
        if _meaningful(_meta(cell)) != _meaningful(_meta(source)):
            report.metadata_fixed.append(grade_id)
        cell.metadata["nbgrader"] = copy.deepcopy(source.metadata["nbgrader"])
        if cell.cell_type != source.cell_type and _is_protected(source):
            report.edited.append(grade_id)
        elif _meta(source).get("locked") and _normalized(cell.source) not in accepted[grade_id]:
            report.edited.append(grade_id)
    report.duplicated = sorted(g for g, n in seen.items() if n > 1)
    # Only the last copy of a duplicated cell is graded, as with nbgrader's DeduplicateIds. Earlier
    # copies of a test or locked cell are removed (they are instructor code, and nbgrader would leave
    # them with empty metadata that its own check then rejects, failing the whole submission);
    # earlier copies of a solution cell stay, as ordinary code.
    for grade_id in report.duplicated:
        copies = [c for c in notebook.cells if _grade_id(c) == grade_id]
        for cell in copies[:-1]:
            if _is_protected(release_cells[grade_id]):
                notebook.cells.remove(cell)
            else:
                del cell.metadata["nbgrader"]
    # Hidden-test markers outside test cells would make nbgrader's feedback fail.
    for cell in notebook.cells:
        if not _meta(cell).get("grade") and HIDDEN_MARKER.search(str(cell.source)):
            cell.source = HIDDEN_MARKER.sub("# (marker removed)", str(cell.source))
    report.metadata_fixed = [g for g in dict.fromkeys(report.metadata_fixed) if g not in report.edited]

    # Deleted cells: re-insert protected ones after their nearest surviving predecessor.
    for position, grade_id in enumerate(release_order):
        if grade_id in seen:
            continue
        source = release_cells[grade_id]
        if not _is_protected(source):
            report.deleted_solutions.append(grade_id)
            continue
        insert_at = 0
        for earlier in reversed(release_order[:position]):
            indices = [i for i, c in enumerate(notebook.cells) if _grade_id(c) == earlier]
            if indices:
                insert_at = indices[-1] + 1
                break
        notebook.cells.insert(insert_at, _fresh_copy(source))
        seen[grade_id] = 1
        report.restored.append(grade_id)

    report.suspicious = scan_suspicious(notebook, assignment)
    return notebook, report


class NotebookUnreadable(Exception):
    """The submitted file is not a notebook (not JSON, or not nbformat)."""


MAX_BYTES, MAX_CELLS, MAX_DEPTH = 100 * 2**20, 10_000, 100  # JSON parsers and copies recurse


def _depth(value, limit: int) -> int:
    """How deep lists and dicts nest in ``value``, counted (without recursion) up to ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def read_notebook(path: Path):
    """The notebook; NotebookUnreadable if it is not JSON or nbformat, or too large or deep to take."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"more than {MAX_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        if _depth(data, MAX_DEPTH) > MAX_DEPTH:
            raise RecursionError
        if isinstance(data, dict) and len(data.get("cells") or ()) > MAX_CELLS:
            raise ValueError(f"more than {MAX_CELLS:,} cells")
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - any parse error means "not a notebook"
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        if isinstance(error, RecursionError):
            message = f"JSON nested more than {MAX_DEPTH} levels deep"
        raise NotebookUnreadable(f"{path.name} is not a readable notebook ({message})") from None


def repair_file(
    submitted_path: Path, release_path: Path, target_path: Path, source_path: Path | None = None
) -> IntegrityReport:
    """Repair ``submitted_path`` into ``target_path`` (the release is ``assignments/<assignment>/``);
    raises NotebookUnreadable."""
    submitted = read_notebook(submitted_path)
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(source_path, as_version=4) if source_path is not None else None
    repaired, report = repair(submitted, release, submitted_path.stem, source, release_path.parent.name)
    nbformat.write(repaired, target_path)
    return report
