"""assignments/ is exactly what nbgrader generates from solutions/, and the sources are well formed.

Nothing is executed here: ``nbgrader validate``'s verdicts on the solutions (pass) and on the blank
releases (fail) come from the grading run of tests/test_assignment_grading.py, which executes each
of them once.
"""

import nbtools
import pytest

from autograder.grade import SOLUTIONS_DIR, available_assignments
from autograder.release import ASSIGNMENTS_DIR, generate_releases

ASSIGNMENTS = available_assignments()
SOLUTION_NOTEBOOKS = sorted(SOLUTIONS_DIR.glob("*/*.ipynb"))
RELEASE_NOTEBOOKS = sorted(ASSIGNMENTS_DIR.glob("*/*.ipynb"))


def test_there_is_an_assignment_and_each_has_a_release():
    assert ASSIGNMENTS, "solutions/ holds no assignment"
    released = sorted(p.name for p in ASSIGNMENTS_DIR.iterdir() if p.is_dir())
    assert released == ASSIGNMENTS, "run `make assignments` after adding or removing an assignment"


def test_regenerating_the_release_reproduces_assignments_byte_for_byte(tmp_path):
    generate_releases(target=tmp_path)
    assert nbtools.tree_digest(tmp_path) == nbtools.tree_digest(ASSIGNMENTS_DIR), (
        "assignments/ differs from what nbgrader generates: run `make assignments`, never edit it by hand"
    )


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_solution_sources_are_stored_without_outputs(path):
    notebook = nbtools.read(path)
    for cell in notebook.cells:
        assert "id" in cell, "every cell needs a fixed id so regeneration never churns"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.id} has outputs"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_graded_cell_has_points_and_every_manual_cell_a_rubric(path):
    notebook = nbtools.read(path)
    graded = [c for c in notebook.cells if nbtools.nbgrader_meta(c).get("grade")]
    assert graded, "no graded cell"
    grade_ids = [nbtools.nbgrader_meta(c)["grade_id"] for c in graded]
    assert len(set(grade_ids)) == len(grade_ids), "grade ids must be unique"
    for cell in graded:
        meta = nbtools.nbgrader_meta(cell)
        assert meta.get("points", 0) > 0, f"{meta['grade_id']} has no points"
        if cell.cell_type == "markdown":
            assert "rubric" in cell.source.lower(), f"manually graded {meta['grade_id']} needs a rubric"
    assert nbtools.hidden_test_lines(notebook), "the grade must rest on hidden tests too"


@pytest.mark.parametrize("path", RELEASE_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_release_holds_no_solution_rubric_or_hidden_test(path):
    text = path.read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Rubric", "rubric"):
        assert marker not in text
    source = nbtools.read(SOLUTIONS_DIR / path.parent.name / path.name)
    for line in nbtools.hidden_test_lines(source):
        assert line not in text, f"hidden test line leaked into the release: {line}"
