"""Small notebook utilities shared by the tests (reading nbgrader sources, making submissions)."""

import ast
import hashlib
import re
from pathlib import Path

import nbformat

HIDDEN_TESTS = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)

#: MyST syntax that plain Jupyter shows as raw text (what the Colab copies and downloads must not hold).
LEFTOVER_MYST = {
    "a role such as {term}`...`": re.compile(r"\{[a-z][\w:-]*\}`"),
    "a directive fence such as :::{admonition}": re.compile(r"^\s*>?\s*(:{3,}|`{3,})\{", re.M),
    "a directive option such as :class:": re.compile(r"^\s*>?\s*:[a-z-]+:\s", re.M),
    "a bare closing colon fence :::": re.compile(r"^\s*>?\s*:{3,}\s*$", re.M),
    "an equation label $$ (label)": re.compile(r"\$\$\s*\([\w-]+\)"),
    "a target label (label)=": re.compile(r"^\([\w-]+\)=\s*$", re.M),
}


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


def leftover_myst(notebook) -> list[str]:
    """Each piece of MyST syntax left in the Markdown cells of ``notebook``, with where it is."""
    found = []
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for what, pattern in LEFTOVER_MYST.items():
            for match in pattern.finditer(cell.source):
                found.append(f"cell {number}: {what}: {cell.source[match.start() : match.end() + 40]!r}")
    return found
