"""No claim without a cell: static checks of the prose of the book's pages (no page is executed here).

A number in the prose comes from an executed cell through ``glue``, so it stays true when quick mode
shrinks the data or a new run moves the results. Two mistakes that execution alone would not catch:

- a size that changes between quick and full mode (any variable set with ``pick``) written in the prose
  as a backticked variable name, "at most `max_epochs` epochs", where the reader needs its value;
- a ``{glue:...}`` role naming a key that no cell of the page glues, which only the strict book build
  reports, after minutes.
"""

import re
from pathlib import Path

import jupytext
import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
PAGES = sorted(str(path.relative_to(BOOK).with_suffix("")) for path in BOOK.glob("*/*.md"))

# A backticked name read as a quantity: "at most `max_epochs` epochs", "`maxlen_short` tokens".
BEFORE_VALUE = r"(?:at most|up to|first|last|after|than|to|of|for|at|with)"
UNIT = r"(?:tokens|epochs|steps|reviews|wires|sequences|words|units|batches|times)"


def cells_of(page):
    notebook = jupytext.read(BOOK / f"{page}.md")
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    prose = re.sub(r"^```.*?^```", "", prose, flags=re.S | re.M)  # code shown in exercise solutions
    return code, prose


def test_pages_are_found():
    assert "labs/imdb_simple_rnn_lstm" in PAGES and "results/model_comparison" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_no_mode_dependent_variable_stands_for_its_value_in_prose(page):
    code, prose = cells_of(page)
    picked = set(re.findall(r"^(\w+) = (?:rnncourse\.)?pick\(", code, flags=re.M))
    wrong = []
    for name in sorted(picked):
        pattern = rf"\b{BEFORE_VALUE}\s+`{name}`|(?<!\}})`{name}`\s+{UNIT}\b"
        wrong += [match.group(0) for match in re.finditer(pattern, prose)]
    assert not wrong, f"{page}: glue the value instead of naming the variable: {wrong}"


@pytest.mark.parametrize("page", PAGES)
def test_every_glue_role_names_a_key_the_page_glues(page):
    code, prose = cells_of(page)
    used = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", prose))
    literal = set(re.findall(r"""\bglue\(\s*["']([\w.]+)["']""", code))
    templates = [
        re.compile(re.sub(r"\\\{[^}]*\\\}", r"[\\w.]+", re.escape(template)) + r"\Z")
        for template in re.findall(r"""\bglue\(\s*f["']([^"']+)["']""", code)
    ]
    missing = sorted(key for key in used - literal if not any(t.match(key) for t in templates))
    assert not missing, f"{page}: glue roles without a glue(...) call in the page: {missing}"
