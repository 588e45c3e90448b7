"""Static checks of the lab pages' contract with the model-comparison page (no page is executed here).

nbval executes the pages themselves (``pytest book/labs book/results``); these tests check, in
milliseconds, what execution alone would not catch: every lab records its runs under its own name, the
comparison page expects exactly those labs, and it is re-executed at every book build.
"""

import re

import jupytext
import pytest

from rnncourse import results

LAB_PAGES = ["imdb_simple_rnn_lstm", "imdb_bidirectional", "reuters"]
ALL_PAGES = ["labs/imdb_data", *(f"labs/{name}" for name in LAB_PAGES), "results/model_comparison"]


def code_of(repo_root, page):
    notebook = jupytext.read(repo_root / "book" / f"{page}.md")
    return notebook, "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", LAB_PAGES)
def test_each_lab_clears_then_records_its_own_results(repo_root, name):
    _, code = code_of(repo_root, f"labs/{name}")
    assert f'LAB = "{name}"' in code
    assert code.index("start_lab(LAB)") < code.index("record_result(")
    calls = re.findall(r"record_result\((.*?)\n    \)", code, flags=re.S)
    assert len(calls) == 1, f"{name}: one record_result call, in the lab's train-and-evaluate helper"
    for call in calls:
        for field in ("lab=LAB", "dataset=", "model=", "params=", "seconds_per_epoch=", "epochs="):
            assert field in call, f"{name}: record_result without {field}"
        assert "best_val_accuracy=run.best_value" in call and "seed=course.seed" in call


def test_the_comparison_page_expects_exactly_the_labs_that_record(repo_root):
    notebook, code = code_of(repo_root, "results/model_comparison")
    expected = set(re.findall(r'^    "(\w+)": "book/labs/', code, flags=re.M))
    assert expected == set(LAB_PAGES)
    assert notebook.metadata["mystnb"]["execution_mode"] == "force"
    assert "load_results()" in code and "markdown_table(" in code


@pytest.mark.parametrize("page", ALL_PAGES)
def test_pages_start_with_the_install_cell_then_setup(repo_root, page):
    notebook, _ = code_of(repo_root, page)
    first, second = [cell for cell in notebook.cells if cell.cell_type == "code"][:2]
    assert "remove-input" in first.metadata.get("tags", []) and "%pip install" in first.source
    assert second.source.startswith("import rnncourse\n") and "rnncourse.setup(" in second.source


@pytest.mark.parametrize("page", ALL_PAGES)
def test_sizes_go_through_pick_and_training_through_tf_data(repo_root, page):
    _, code = code_of(repo_root, page)
    assert ".fit(x" not in code.replace(" ", ""), "fit() on NumPy arrays stalls here: use make_dataset"
    assert "verbose=1" not in code
    if page.startswith("labs/") and page != "labs/imdb_data":
        assert "pick(full=" in code and "fit_best(" in code


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
