"""Every notebook page of the book runs, in quick mode, in the one build of this test run.

The quick build (``tests/book_build.py``) is strict (``-W -n``): a cell that raises, an unresolved
reference or any Sphinx warning fails it. These tests name what went wrong, page by page, from the
notebooks the build executed. Running a single page by hand still works through nbval:
``COURSE_QUICK=1 pytest --nbval-lax book/gated/gru.md``.
"""

import re

import jupytext
import nbformat
import nbtools
import pytest
from book_build import toc_entries
from prerequisites import REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs("jupyter-book", "datasets", "texts", "stocks", "imdb-raw", "mnist"),
]


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


@pytest.mark.parametrize("entry", NOTEBOOK_PAGES)
def test_the_download_button_notebook_has_plain_markdown(quick_book, entry):
    """The .ipynb behind the download button keeps its outputs and reads as a plain notebook
    (book/_ext/plain_downloads.py), like the Colab copy."""
    download = quick_book.html_dir / "_sources" / f"{entry}.ipynb"
    assert download.is_file(), f"the built book offers no {entry}.ipynb download"
    notebook = nbformat.read(download, as_version=4)
    found = nbtools.leftover_myst(notebook)
    assert not found, f"{download.name} keeps MyST:\n" + "\n".join(found[:10])
    # myst-nb writes the outputs into the download when it executes the page, not when it takes the page
    # from its cache (a rebuild on a developer's machine); CI builds from scratch
    if f"{entry}.md: Executing notebook" in quick_book.log:
        assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
            f"{download.name} lost the outputs of the build"
        )


def build_paths() -> list[str]:
    """Folders of the machine that built the book, which no output may show to a reader."""
    import os
    import tempfile

    return sorted(
        {str(REPO_ROOT), str(REPO_ROOT.parent), tempfile.gettempdir() + "/", os.path.expanduser("~") + "/"}
    )


@pytest.mark.parametrize("entry", NOTEBOOK_PAGES)
def test_no_output_shows_a_folder_of_the_build_machine(quick_book, entry):
    if quick_book.executed_dir is None:
        pytest.skip("the book was given as $COURSE_BOOK_HTML: nothing was executed in this run")
    notebook = nbformat.read(quick_book.executed_notebook(entry), as_version=4)
    shown = []
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = output.get("text", "") + "".join(
                value
                for key, value in output.get("data", {}).items()
                if key.startswith("text/") and isinstance(value, str)
            )
            shown += [f"cell {number}: {path}" for path in build_paths() if path in text]
    assert not shown, f"{entry} prints folders of the build machine:\n" + "\n".join(shown[:10])
