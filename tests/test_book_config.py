"""The book's configuration: every page in _toc.yml exists, every notebook page opens with the
Colab/Binder set-up cell, citations and glossary links resolve, and a one-page book built with this
_config.yml behaves as the course needs (stderr hidden, tables rendered, solutions folded, a failing
cell fails the build)."""

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from rnncourse import publish

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))

#: What the install cells give pip: the repository of _config.yml, and its branch unless that is main.
INSTALL_SPEC = f"rnncourse @ git+{CONFIG['repository']['url']}" + (
    "" if CONFIG["repository"].get("branch", "main") == "main" else f"@{CONFIG['repository']['branch']}"
)

#: The first code cell of every notebook page, tagged remove-input. On Colab or Binder, where the course
#: package is missing, it installs it from the repository; locally it does nothing and prints nothing.
#: `make notebooks` (rnncourse/publish.py) writes it from _config.yml.
SETUP_CELL_TAG = "remove-input"
SETUP_CELL = f"""\
# Colab / Binder: install the course helpers when they are missing. Locally this does nothing.
import importlib.util

if importlib.util.find_spec("rnncourse") is None:
    %pip install --quiet "{INSTALL_SPEC}"
    importlib.invalidate_caches()"""


def toc_files(node) -> list[str]:
    """Every `file:` entry of a jupyter-book table of contents, root first, in reading order."""
    found = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(node["file"])
        if "root" in node:
            found.append(node["root"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                found += toc_files(child)
    return found


def page_path(entry: str) -> Path | None:
    """The source file of a toc entry (written without extension), or None if there is none."""
    for suffix in (".md", ".ipynb"):
        candidate = REPO_ROOT / f"{entry}{suffix}"
        if candidate.is_file():
            return candidate
    return None


PAGES = toc_files(TOC)
BOOK_PAGES = [page_path(entry) for entry in PAGES if page_path(entry) is not None]


def is_myst_notebook(path: Path) -> bool:
    head = path.read_text(encoding="utf-8")[:500]
    return path.suffix == ".md" and head.startswith("---") and "format_name: myst" in head


NOTEBOOK_PAGES = [
    path
    for path in BOOK_PAGES
    if is_myst_notebook(path) and any(c.cell_type == "code" for c in jupytext.read(path).cells)
]


def test_toc_is_a_book_with_numbered_parts():
    assert TOC["format"] == "jb-book"
    assert TOC["root"] == "book/intro"
    numbered = [part for part in TOC.get("parts", []) if part.get("numbered")]
    assert numbered, "at least one part of _toc.yml should be numbered"
    assert all(part.get("caption") for part in TOC["parts"]), "every part needs a caption"


@pytest.mark.parametrize("entry", PAGES)
def test_every_toc_page_exists(entry):
    assert page_path(entry) is not None, f"_toc.yml lists {entry}, but neither {entry}.md nor .ipynb exists"


def test_no_page_is_listed_twice():
    assert len(PAGES) == len(set(PAGES)), [page for page in PAGES if PAGES.count(page) > 1]


MINI_PAGE = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page of the mini book

Inline math $h_t$, a citation {cite:p}`BIBKEY`, and a solution:

:::{admonition} Solution
:class: dropdown
Hidden until clicked.
:::

```{code-cell} ipython3
import sys

print("STDERR-" + "FROM-A-CELL", file=sys.stderr)
print("STDOUT-" + "FROM-A-CELL")
```

```{code-cell} ipython3
from IPython.display import Markdown

Markdown("| model | accuracy |\\n| --- | --- |\\n| GRU | 0.9 |")
```

```{bibliography}
```
"""


def build_mini_book(
    folder: Path, extra_cell: str = "", executed_ahead: bool = False
) -> tuple[subprocess.CompletedProcess, Path]:
    """Build a one-page book with this repository's _config.yml (strict, as `make book` does);
    ``executed_ahead``: its page executed first into the build's cache, as `make book-quick` does."""
    for relative in ("_config.yml", CONFIG["logo"], *CONFIG["bibtex_bibfiles"]):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, folder / relative)
    shutil.copytree(REPO_ROOT / "book" / "_static", folder / "book" / "_static", dirs_exist_ok=True)
    for path in CONFIG["sphinx"].get("local_extensions", {}).values():  # the book's own Sphinx extensions
        shutil.copytree(
            REPO_ROOT / path, folder / path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    (folder / "_toc.yml").write_text("format: jb-book\nroot: book/page\n", encoding="utf-8")
    key = sorted(bib_keys())[0]
    (folder / "book" / "page.md").write_text(MINI_PAGE.replace("BIBKEY", key) + extra_cell, encoding="utf-8")
    if executed_ahead:
        command = [sys.executable, "-m", "rnncourse.execute_book", "--book", str(folder), "--jobs", "1"]
        ahead = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
        assert "book/page.md: " in ahead.stdout and "0 failed" in ahead.stdout, ahead.stdout + ahead.stderr
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [jupyter_book, "build", ".", "-W", "-n", "--keep-going"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result, folder / "_build" / "html" / "book" / "page.html"


@pytest.mark.slow
@pytest.mark.needs("jupyter-book")
def test_the_configuration_hides_stderr_renders_tables_and_folds_solutions(tmp_path):
    """The page is executed ahead (rnncourse/execute_book.py, as `make book-quick` does): the build
    takes it from the cache, and its executed notebook and download keep the outputs."""
    result, page = build_mini_book(tmp_path, executed_ahead=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Using cached notebook" in result.stdout and "Executing notebook" not in result.stdout
    for executed in ("jupyter_execute/book/page.ipynb", "html/_sources/book/page.ipynb"):
        text = (tmp_path / "_build" / executed).read_text(encoding="utf-8")
        assert "STDOUT-FROM-A-CELL" in text, f"{executed} lost the outputs taken from the cache"
    html = page.read_text(encoding="utf-8")
    assert "STDOUT-FROM-A-CELL" in html
    assert "STDERR-FROM-A-CELL" not in html, "TensorFlow's stderr would reach the HTML"
    assert re.search(r"<table[^>]*>.*GRU.*0\.9", html, re.S), (
        "a Markdown table shown by a cell is not a table"
    )
    assert not re.search(r"<p>\|\s*model", html), "a Markdown table left as raw text"
    assert re.search(r'<div class="[^"]*\bdropdown\b[^"]*\badmonition\b', html), "solutions are not folded"
    assert "mathjax" in html.lower(), "no MathJax on a page with math"


@pytest.mark.slow
@pytest.mark.needs("jupyter-book")
def test_a_cell_that_raises_fails_the_build(tmp_path):
    failing = '\n```{code-cell} ipython3\nraise ValueError("A-CELL-" + "THAT-RAISES")\n```\n'
    result, _ = build_mini_book(tmp_path, failing)
    assert result.returncode != 0, "a failing cell must fail the strict build"
    log = result.stdout + result.stderr
    assert "page" in log and ("A-CELL-THAT-RAISES" in log or "ValueError" in log or "execut" in log), log[
        -3000:
    ]


def test_setup_cell_installs_from_this_repository():
    repository = CONFIG["repository"]["url"]
    assert f'"rnncourse @ git+{repository}"' in SETUP_CELL


def test_binder_environment_uses_the_pinned_requirements_and_installs_the_package():
    requirements = (REPO_ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert "-r ../requirements.txt" in requirements.splitlines()
    # Binder's own additions: pinned, and none that requirements.txt already pins (one place per version)
    own = [
        line.strip()
        for line in requirements.splitlines()
        if line.strip() and not line.startswith(("#", "-r"))
    ]
    course = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    course_names = {re.split(r"[=<>!~; \[]", line.strip())[0].lower().replace("_", "-")
                    for line in course.splitlines() if line.strip() and not line.startswith(("#", "-"))}  # fmt: skip
    for line in own:
        name = line.split("==")[0].lower().replace("_", "-")
        assert "==" in line, f"binder/requirements.txt: pin {line!r} (name==version)"
        assert name not in course_names, (
            f"binder/requirements.txt repeats {name}, which requirements.txt pins"
        )
    assert any(line.startswith("jupyterlab-myst==") for line in own), (
        "Binder renders MyST with jupyterlab-myst"
    )
    post_build = REPO_ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    text = post_build.read_text(encoding="utf-8")
    assert "pip install --no-deps -e ." in text
    assert "jupytext-config set-default-viewer" in text


@pytest.mark.parametrize("path", NOTEBOOK_PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_notebook_page_starts_with_the_setup_cell(path):
    """Colab and Binder open a chapter without the course package: its first code cell must install it."""
    first = next(cell for cell in jupytext.read(path).cells if cell.cell_type == "code")
    assert first.source.strip() == SETUP_CELL, (
        f"{path.relative_to(REPO_ROOT)}: the first code cell must be the set-up cell of "
        f"tests/test_book_config.py (SETUP_CELL), tagged {SETUP_CELL_TAG!r}; found:\n{first.source}"
    )
    assert SETUP_CELL_TAG in first.metadata.get("tags", []), (
        f"the set-up cell must be tagged {SETUP_CELL_TAG}"
    )


def bib_keys() -> set[str]:
    keys = set()
    for bibfile in CONFIG["bibtex_bibfiles"]:
        keys |= set(re.findall(r"@\w+\{([^,\s]+),", (REPO_ROOT / bibfile).read_text(encoding="utf-8")))
    return keys


def glossary_terms() -> set[str]:
    """Every term of book/glossary.md (lower case, as Sphinx matches them)."""
    text = (REPO_ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    return {
        line.strip().lower()
        for line in body.splitlines()
        if line.strip() and not line.startswith((" ", "\t", ":"))
    }


CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
TERM = re.compile(r"\{term\}`([^`]+)`")


@pytest.mark.parametrize("path", BOOK_PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_citations_and_glossary_links_resolve(path):
    text = path.read_text(encoding="utf-8")
    keys = bib_keys()
    for group in CITE.findall(text):
        for key in group.split(","):
            assert key.strip() in keys, f"{key.strip()!r} is cited but not in {CONFIG['bibtex_bibfiles']}"
    terms = glossary_terms()
    for link in TERM.findall(text):
        target = re.sub(r"\s+", " ", link.rsplit("<", 1)[-1].rstrip(">") if link.endswith(">") else link)
        assert target.strip().lower() in terms, f"{{term}}`{link}` has no entry in book/glossary.md"


def test_references_have_the_fields_a_citation_needs():
    text = (REPO_ROOT / CONFIG["bibtex_bibfiles"][0]).read_text(encoding="utf-8")
    entries = re.split(r"\n(?=@)", text.split("\n@", 1)[1])
    assert len(entries) == len(bib_keys()), "one entry per key"
    for entry in entries:
        for field in ("author", "title", "year"):
            assert re.search(rf"^\s*{field}\s*=", entry, re.M), f"{entry.splitlines()[0]} lacks {field}"
        assert re.search(r"^\s*(journal|booktitle|howpublished)\s*=", entry, re.M), entry.splitlines()[0]


@functools.cache
def book_index():
    """What `make notebooks` resolves the pages' MyST references against (titles, labels, terms...)."""
    return publish.BookIndex.of(REPO_ROOT)


@pytest.mark.parametrize("path", NOTEBOOK_PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_paired_notebook_matches_its_page(path):
    """Colab opens only .ipynb files: each page has a committed copy with the page's cells, no outputs.

    Code cells are the page's, character for character; Markdown cells are the page's turned into
    plain Markdown by `make notebooks` (tests/test_publish.py checks that no MyST is left).
    """
    paired = path.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.relative_to(REPO_ROOT)} is missing: run `make notebooks`"
    page_cells = jupytext.read(path).cells
    notebook = nbformat.read(paired, as_version=4)
    assert [cell.cell_type for cell in notebook.cells] == [cell.cell_type for cell in page_cells], (
        f"{paired.relative_to(REPO_ROOT)} is out of date: run `make notebooks`"
    )
    ours = [cell.source.strip() for cell in page_cells if cell.cell_type == "code"]
    theirs = [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]
    assert ours == theirs, f"{paired.relative_to(REPO_ROOT)} is out of date: run `make notebooks`"
    expected = publish.colab_notebook(path, book_index())
    markdown = [cell.source.strip() for cell in expected.cells if cell.cell_type == "markdown"]
    copied = [cell.source.strip() for cell in notebook.cells if cell.cell_type == "markdown"]
    assert markdown == copied, f"{paired.relative_to(REPO_ROOT)} is out of date: run `make notebooks`"
    with_outputs = [i for i, cell in enumerate(notebook.cells) if cell.get("outputs")]
    assert not with_outputs, f"{paired.relative_to(REPO_ROOT)} has outputs in cells {with_outputs}"
