"""Every notebook page of the book runs, in quick mode, in the one build of this test run.

The quick build (``tests/book_build.py``) is strict (``-W -n``): a cell that raises, an unresolved
reference or any Sphinx warning fails it. These tests name what went wrong, page by page, from the
notebooks the build executed. Running a single page by hand still works through nbval:
``COURSE_QUICK=1 pytest --nbval-lax book/gated/gru.md``.
"""

import re

import jupytext
import nbformat
import pytest
from book_build import toc_entries
from prerequisites import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.needs("jupyter-book", "datasets", "texts")]


def is_notebook_page(entry: str) -> bool:
    path = REPO_ROOT / f"{entry}.md"
    if not path.is_file():
        return False
    head = path.read_text(encoding="utf-8")[:500]
    if not (head.startswith("---") and "format_name: myst" in head):
        return False
    return any(cell.cell_type == "code" for cell in jupytext.read(path).cells)


NOTEBOOK_PAGES = [entry for entry in toc_entries() if is_notebook_page(entry)]
# Sphinx's warnings and errors ("path:line: WARNING: ..."), not the kernels' own log lines
PROBLEM_LINE = re.compile(r"(WARNING|ERROR|CRITICAL|SEVERE): |Traceback|Exception:")


def test_there_are_notebook_pages():
    assert NOTEBOOK_PAGES, "_toc.yml lists no notebook page"


def test_the_quick_build_succeeds_without_warnings(quick_book):
    problems = [
        line
        for line in quick_book.log.splitlines()
        if PROBLEM_LINE.search(line) and not line.startswith("[IPKernelApp]")
    ]
    assert quick_book.returncode == 0, (
        f"`{quick_book.command}` failed (exit {quick_book.returncode}):\n"
        + "\n".join(problems[:60] or quick_book.log.splitlines()[-60:])
    )
    assert (quick_book.html_dir / "index.html").is_file()


@pytest.mark.parametrize("entry", NOTEBOOK_PAGES)
def test_page_runs_every_cell_without_error(quick_book, entry):
    if quick_book.executed_dir is None:
        pytest.skip("the book was given as $COURSE_BOOK_HTML: nothing was executed in this run")
    executed = quick_book.executed_notebook(entry)
    report = quick_book.error_report(entry)
    assert executed.is_file(), f"{entry} was not executed by the quick build.\n{report[-4000:]}"
    notebook = nbformat.read(executed, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    source_cells = [c for c in jupytext.read(REPO_ROOT / f"{entry}.md").cells if c.cell_type == "code"]
    assert len(code) == len(source_cells), f"{entry}: {len(code)} code cells executed of {len(source_cells)}"
    errors = [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(code)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{entry} raised:\n" + "\n".join(errors) + f"\n{report[-4000:]}"
    not_run = [index for index, cell in enumerate(code) if cell.get("execution_count") is None]
    assert not not_run, f"{entry}: code cells {not_run} did not run.\n{report[-4000:]}"
