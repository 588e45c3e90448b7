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

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HIDDEN_MARKER = re.compile(r"#+\s*(BEGIN|END) HIDDEN TESTS")
SUSPICIOUS_CODE = [
    (re.compile(r"\b(np|numpy|keras|tf|tensorflow)(\.\w+)+\s*=(?!=)"), "assigns to an attribute of {0}"),
    (re.compile(r"\bsetattr\(\s*(np|numpy|keras|tf|builtins)\b"), "setattr on {0}"),
    (re.compile(r"\bimport\s+builtins\b|\b__builtins__\b"), "touches builtins"),
    (re.compile(r"\bsys\.modules\s*\["), "edits sys.modules"),
    (re.compile(r"set_custom_exc|showtraceback|\.events\.(un)?register"), "changes IPython's error handling"),
    (re.compile(r"\bos\._exit\b|\bos\.kill\b|\bsignal\.signal\b"), "kills or signals the kernel"),
    (re.compile(r"\bctypes\b|\bgc\.get_referr"), "uses ctypes/gc introspection"),
    (re.compile(r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b"), "uses the network"),
    (re.compile(r"\bsubprocess\b|\bos\.system\b|\bos\.popen\b"), "runs shell commands"),
    (re.compile(r"gradebook|autograded|solutions/|\.\./\.\."), "reads outside its folder"),
]


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


def scan_suspicious(notebook) -> list[str]:
    """Findings in the cells the student wrote (not locked ones), 'cell: what (line)'."""
    findings = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or _meta(cell).get("locked"):
            continue
        name = _grade_id(cell) or f"cell {index}"
        for number, line in enumerate(str(cell.source).splitlines(), start=1):
            stripped = line.split("#", 1)[0]
            for pattern, label in SUSPICIOUS_CODE:
                match = pattern.search(stripped)
                if match:
                    what = label.format(*(g or "" for g in match.groups()))
                    findings.append(f"{name} line {number} {what}: {line.strip()[:80]}")
                    break
    return findings[:10]


MEANINGFUL_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task")


def _meaningful(meta: dict) -> dict:
    return {key: meta.get(key) for key in MEANINGFUL_KEYS if meta.get(key) not in (None, False)}


def repair(submitted, release, notebook_name: str, source=None):
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

    report.suspicious = scan_suspicious(notebook)
    return notebook, report


class NotebookUnreadable(Exception):
    """The submitted file is not a notebook (not JSON, or not nbformat)."""


def read_notebook(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - any parse error means "not a notebook"
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise NotebookUnreadable(f"{path.name} is not a readable notebook ({message})") from None


def repair_file(
    submitted_path: Path, release_path: Path, target_path: Path, source_path: Path | None = None
) -> IntegrityReport:
    """Repair ``submitted_path`` into ``target_path``; raises NotebookUnreadable."""
    submitted = read_notebook(submitted_path)
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(source_path, as_version=4) if source_path is not None else None
    repaired, report = repair(submitted, release, submitted_path.stem, source)
    nbformat.write(repaired, target_path)
    return report
