"""Small notebook utilities shared by the tests (reading nbgrader sources, making submissions)."""

import ast
import hashlib
import re
from pathlib import Path

import nbformat

HIDDEN_TESTS = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def hidden_test_lines(notebook) -> list[str]:
    """Every meaningful line inside the hidden-test regions of a source notebook."""
    lines = []
    for cell in notebook.cells:
        for block in HIDDEN_TESTS.findall(cell.source):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return lines


def find_cell(notebook, text: str):
    """The one solution cell whose source contains ``text``."""
    matches = [c for c in notebook.cells if text in c.source and nbgrader_meta(c).get("solution")]
    assert len(matches) == 1, f"expected one solution cell containing {text!r}, found {len(matches)}"
    return matches[0]


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file below ``folder``."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def imported_modules(source: str) -> set[str]:
    """Top-level modules a cell imports (IPython magics and shell escapes left out)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found
