"""End to end, per assignment: the autograder gives the solution every autograded point, the blank
release none, and each typical wrong submission loses exactly the points of the cells it breaks.

Each assignment's class (solution, blank release, the mistakes of ``tests/grading.py``) is graded once
per run by the ``graded`` fixture; every test here reads that run: scores per cell from its gradebook,
messages from its autograded notebooks, and ``nbgrader validate``'s verdict on the same execution.
To cover a new mistake, add it to ``ALL_MISTAKES`` in ``tests/grading.py``.
"""

import html

import attacks
import nbtools
import pytest
from grading import (
    ATTACK_STUDENT,
    LAB_REPORTS,
    MISTAKES,
    RELEASE_STUDENT,
    SEQUENTIAL_ASSIGNMENTS,
    SOLUTION_STUDENT,
    mistake_student,
    notebook_paths,
    total,
    validate_executed,
)

pytestmark = [pytest.mark.slow, pytest.mark.needs("bwrap", "datasets")]
ASSIGNMENTS = list(MISTAKES)
CASES = [(name, mistake) for name, mistakes in MISTAKES.items() for mistake in mistakes]
GRADING_ORDER = 1  # after the adversarial run (tests/conftest.py)


def start_grading(runs, items):
    """Grade the classes these items read, the slowest (the lab reports, which train) first."""
    wanted = {item.callspec.params["assignment"] for item in items if hasattr(item, "callspec")}
    runs.start_classes(sorted(wanted, key=lambda name: (name not in LAB_REPORTS, name)))


def test_every_assignment_is_graded_here():
    from autograder.grade import available_assignments

    assert sorted(ASSIGNMENTS) == available_assignments(), "add the assignment to ALL_MISTAKES in grading.py"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_every_autograded_point_without_stderr(graded, assignment):
    run = graded.assignment_class(assignment)
    assert run.result.returncode in (0, 1), run.log()
    assert run.rows[SOLUTION_STUDENT]["status"] == "graded", run.rows[SOLUTION_STUDENT]
    cells = run.scores[SOLUTION_STUDENT]
    lost = {name: score for name, (score, maximum) in cells.items() if score != maximum}
    assert not lost, f"the solution loses points in {lost}"
    assert total(cells)[1] > 0
    for cell in run.autograded_notebook(SOLUTION_STUDENT).cells:
        if cell.cell_type == "code":
            streams = {output.get("name") for output in cell.outputs if output.output_type == "stream"}
            errors = [output for output in cell.outputs if output.output_type == "error"]
            assert "stderr" not in streams and not errors, f"cell {cell.id} wrote to stderr or failed"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_passes_nbgrader_validate(graded, assignment):
    verdict = validate_executed(graded.assignment_class(assignment).autograded_path(SOLUTION_STUDENT))
    assert verdict == {}, verdict


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero_and_fails_nbgrader_validate(graded, assignment):
    run = graded.assignment_class(assignment)
    score, maximum = total(run.scores[RELEASE_STUDENT])
    assert score == 0 and maximum > 0
    verdict = validate_executed(run.autograded_path(RELEASE_STUDENT))
    assert verdict.get("failed"), verdict


@pytest.mark.parametrize(("assignment", "mistake"), CASES, ids=[f"{a}-{m.name}" for a, m in CASES])
def test_wrong_submission_loses_exactly_the_cells_it_breaks(graded, assignment, mistake):
    run = graded.assignment_class(assignment)
    student = mistake_student(mistake)
    cells = run.scores[student]
    assert mistake.failing <= set(cells), f"unknown grade ids: {sorted(mistake.failing - set(cells))}"
    lost = {name for name, (score, maximum) in cells.items() if score < maximum}
    assert lost == mistake.failing, (
        f"expected to lose {sorted(mistake.failing)}, lost {sorted(lost)}; the grader's reason: "
        f"{run.rows[student]['reason']!r}"
    )
    score, maximum = total(cells)
    expected = maximum - sum(cells[name][1] for name in mistake.failing)
    assert score == expected and 0 < score < maximum
    messages = [
        output.get("evalue", "")
        for cell in run.autograded_notebook(student).cells
        if nbtools.nbgrader_meta(cell).get("grade_id") in mistake.failing
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    for hint in mistake.hints:
        assert any(hint in message for message in messages), (
            f"no failing cell tells the student {hint!r}; they say: {messages}"
        )
    row = run.rows[student]
    assert row["flagged"] == str(bool(mistake.flagged)), row["reason"]
    assert mistake.flagged in row["reason"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_feedback_shows_hidden_tests(graded, assignment):
    run = graded.assignment_class(assignment)
    hidden = nbtools.hidden_test_lines(nbtools.read(notebook_paths(assignment)[0]))
    pages = sorted((run.out / "feedback").glob(f"*/{assignment}.html"))
    assert {page.parent.name for page in pages} >= {SOLUTION_STUDENT, RELEASE_STUDENT}
    for page in pages:
        text = html.unescape(page.read_text(encoding="utf-8"))
        assert "HIDDEN TESTS" not in text, page
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{page.parent.name} sees hidden tests: {leaked[:2]}"


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a not in SEQUENTIAL_ASSIGNMENTS])
def test_attacks_earn_what_the_blank_release_earns_are_flagged_and_leak_nothing(graded, assignment):
    """Transformers, a trace hook, forged replies, shadowed checks, answers read from the test's frames,
    an exception with no text, and a hunt for the hidden tests (tests/attacks.py), all in one notebook."""
    run = graded.assignment_class(assignment)
    row = run.rows[ATTACK_STUDENT]
    assert row["status"] == "graded", row
    assert run.scores[ATTACK_STUDENT] == run.scores[RELEASE_STUDENT], row["reason"]
    assert row["flagged"] == "True" and "registers an IPython transformer" in row["reason"], row["reason"]
    text = run.output_text(ATTACK_STUDENT)
    assert "LEAK-COUNT 0" in text, "the kernel found text of the hidden tests"
    seen = text + attacks.leaked_text(text) + html.unescape(run.feedback_path(ATTACK_STUDENT).read_text())
    hidden = nbtools.hidden_test_lines(nbtools.read(notebook_paths(assignment)[0]))
    assert not [line for line in hidden if line in seen]
