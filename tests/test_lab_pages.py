"""The lab pages' contract with the model-comparison page, checked on what the quick build produced:
every lab records its runs under its own name, in quick mode, with every field, and the comparison page
(executed after them) shows each recorded model. Plus fast checks of the pages' structure.
"""

import re

import jupytext
import nbformat
import pytest

from rnncourse import results
from rnncourse.seeding import DEFAULT_SEED

LAB_PAGES = ["imdb_simple_rnn_lstm", "imdb_bidirectional", "reuters"]  # the labs that train and record
ALL_PAGES = [
    "labs/imdb_data",
    *(f"labs/{name}" for name in LAB_PAGES),
    "labs/imdb_small_lstms",
    "labs/starbucks_forecast",
    "labs/row_mnist",
    "results/model_comparison",
]


def code_of(repo_root, page):
    notebook = jupytext.read(repo_root / "book" / f"{page}.md")
    return notebook, "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def displayed_text(notebook) -> str:
    """Everything the executed notebook shows: streams, text and Markdown outputs."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/markdown", ""), data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(part if isinstance(part, str) else "".join(part) for part in parts)


@pytest.mark.slow
@pytest.mark.needs("jupyter-book", "datasets")
def test_each_lab_records_its_runs_and_the_comparison_shows_them(quick_book):
    if quick_book.executed_dir is None:
        pytest.skip("the book was given as $COURSE_BOOK_HTML: nothing was executed in this run")
    records = results.load_results(quick=True)
    assert {record["lab"] for record in records} == set(LAB_PAGES), (
        "a lab recorded nothing, or a stranger did"
    )
    for record in records:
        assert record["mode"] == "quick" and record["seed"] == DEFAULT_SEED, record
        assert record["params"] > 0 and record["epochs"] >= 1 and record["seconds_per_epoch"] > 0, record
        assert 0.0 <= record["best_val_accuracy"] <= 1.0 and 0.0 <= record["test_accuracy"] <= 1.0, record
    comparison = nbformat.read(quick_book.executed_notebook("book/results/model_comparison"), as_version=4)
    shown = displayed_text(comparison)
    missing = [record["model"] for record in records if record["model"] not in shown]
    assert not missing, f"the comparison page does not show {missing}"


def test_the_comparison_page_is_executed_at_every_build(repo_root):
    """It reads the labs' result files, which change without its code changing: never from the cache."""
    notebook, _ = code_of(repo_root, "results/model_comparison")
    assert notebook.metadata["mystnb"]["execution_mode"] == "force"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_pages_start_with_the_install_cell_then_setup(repo_root, page):
    notebook, _ = code_of(repo_root, page)
    first, second = [cell for cell in notebook.cells if cell.cell_type == "code"][:2]
    assert "remove-input" in first.metadata.get("tags", []) and "%pip install" in first.source
    assert second.source.startswith("import rnncourse\n") and "rnncourse.setup(" in second.source


def test_terms_used_by_the_labs_exist_in_the_glossary(repo_root):
    glossary = (repo_root / "book" / "glossary.md").read_text(encoding="utf-8")
    entries = {line.strip() for line in glossary.splitlines() if line and not line[0].isspace()}
    for page in ALL_PAGES:
        text = (repo_root / "book" / f"{page}.md").read_text(encoding="utf-8")
        for term in re.findall(r"\{term\}`([^`]+)`", text):
            target = re.sub(r".*<(.+)>$", r"\1", term)
            assert target in entries, f"{page}: {{term}}`{term}` is not a glossary entry"


def test_result_fields_cover_what_the_comparison_shows():
    shown = {key for _, key, _ in results.TABLE_COLUMNS}
    assert shown <= set(results.FIELDS)
    assert {"machine", "mode", "seed", "dataset"} <= set(results.FIELDS)
