"""End to end, per assignment: the autograder gives the solution every autograded point, the blank
release none, and each typical wrong submission loses exactly the points of the cells it breaks.

All submissions of one assignment are graded in one autograder run (one nbgrader course); scores are
read back per cell from its gradebook. To cover another assignment, add an entry to ALL_MISTAKES: each
mistake edits solution cells programmatically and lists the grade ids that must lose their points.
The lab reports (imdb_lab_report, reuters_lab_report) are always graded with COURSE_QUICK=1, as their
students are told, whatever the mode of the test run.
"""

import html
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbtools
import pytest

from autograder.grade import REPO_ROOT, SOLUTIONS_DIR
from rnncourse import is_quick


@dataclass(frozen=True)
class Mistake:
    """A typical wrong submission: the solution with text replacements in its solution cells."""

    name: str  # the pytest id
    edits: tuple[tuple[str, str, str], ...]  # (text identifying the cell, old, new); old occurs once
    failing: frozenset[str]  # the grade ids that lose their points, no more, no less
    hints: tuple[str, ...]  # each must be part of an error message the student gets from a failing cell
    quick: bool = False  # graded in quick mode too (otherwise only with COURSE_QUICK=0)


# Edits: each one typical mistake, in the words of the solution cells.
NO_TANH_DERIVATIVE = ("def rnn_backward", "da = dh * (1.0 - states[:, t] ** 2)", "da = dh")
DU_OVERWRITTEN = ("def rnn_backward", "dU += da.T @ h_prev", "dU = da.T @ h_prev")
LSTM_OLD_CELL_STATE = (
    "def lstm_step",
    "h_t = sigmoid(o) * np.tanh(c_t)",
    "h_t = sigmoid(o) * np.tanh(c_prev)",
)
LSTM_GATES_SWAPPED = ("def lstm_step", "i, f, g, o = np.split(", "f, i, g, o = np.split(")
GRU_OTHER_CONVENTION = (
    "def gru_step",
    "return z * h_prev + (1.0 - z) * candidate",
    "return (1.0 - z) * h_prev + z * candidate",
)
REPORT_GRU_FORMULA = ("def gru_params", "return 3 * u * (d + u + n_biases)", "return 3 * u * (d + u + 1)")
BIDIRECTIONAL_SINGLE = ("def bidirectional_params", "return 2 * inner_count", "return inner_count")
# The lab report (IMDB): its wrong output shape, its last-epoch evaluation, and two slips of reading.
DOUBLED_UNITS = (
    "def build_model",
    "recurrent = recurrent_layers[cell](units)",
    "recurrent = recurrent_layers[cell](2 * units)",
)
LAST_EPOCH_MODEL = (
    "def train_with_checkpoint",
    "return history.history, best_model",
    "return history.history, model",
)
ZERO_BASED_BEST_EPOCH = ("def summarize_run", '"best_epoch": best_index + 1,', '"best_epoch": best_index,')
NEGATIVE_CONFIDENCE = (
    "def verdict",
    'return "negative", 1.0 - probability',
    'return "negative", probability',
)
# The Reuters lab report: one-hot loss for integer labels, a transposed confusion matrix, word counts.
CATEGORICAL_LOSS = (
    "def build_gru_classifier",
    'loss="sparse_categorical_crossentropy"',
    'loss="categorical_crossentropy"',
)
TRANSPOSED_CONFUSION = (
    "def confusion_matrix",
    "(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int))",
    "(np.asarray(y_pred, dtype=int), np.asarray(y_true, dtype=int))",
)
WORD_COUNTS = (
    "def multi_hot",
    "result[i, np.asarray(sequence, dtype=int)] = 1.0",
    "np.add.at(result, (i, np.asarray(sequence, dtype=int)), 1.0)",
)

BACKWARD_CELLS = frozenset(
    {
        "backward-visible-test",
        "backward-hidden-test-dW-db",
        "backward-hidden-test-dU",
        "backward-hidden-test-dh0",
    }
)
LSTM_CELLS = frozenset(
    {
        "lstm-step-visible-test",
        "lstm-step-hidden-test",
        "lstm-forward-hidden-test-zero-state",
        "lstm-forward-hidden-test-initial-state",
    }
)
GRU_CELLS = frozenset(
    {
        "gru-step-visible-test",
        "gru-step-hidden-test",
        "gru-forward-hidden-test-zero-state",
        "gru-forward-hidden-test-initial-state",
    }
)
GRU_COUNT_CELLS = frozenset({"gru-test", "model-params-test-gru-bidirectional"})
BIDIRECTIONAL_COUNT_CELLS = frozenset({"bidirectional-test", "model-params-test-gru-bidirectional"})

# nbgrader takes about 13 s per submission here (35-40 s for a lab report, which trains two models in
# quick mode), so quick mode (the default of the test suite) grades one submission per assignment that
# combines mistakes breaking disjoint cells (two for the lab reports: one combined mistake must leave
# some points); COURSE_QUICK=0 also grades each mistake on its own. A mistake with several hints must
# show every one of them in the messages of its failing cells.
ALL_MISTAKES = {
    "bptt": [
        Mistake(
            "dU-overwritten",
            (DU_OVERWRITTEN,),
            frozenset({"backward-visible-test", "backward-hidden-test-dU"}),
            (
                "dU differs from tf.GradientTape for N=3, T=7, D=4, H=5: accumulate da.T @ h_prev over every step",
            ),
            quick=True,
        ),
        Mistake(
            "no-tanh-derivative",
            (NO_TANH_DERIVATIVE,),
            BACKWARD_CELLS,
            ("multiply by the tanh derivative (1 - h_t**2)",),
        ),
    ],
    "lstm_gru_cells": [
        Mistake(
            "lstm-old-cell-state-and-gru-convention",
            (LSTM_OLD_CELL_STATE, GRU_OTHER_CONVENTION),
            LSTM_CELLS | GRU_CELLS,
            (
                "h_t came out as o * tanh(c_prev): the output uses the NEW cell state",
                "you computed h = (1 - z) h_prev + z candidate; Keras computes h = z h_prev + (1 - z) candidate",
            ),
            quick=True,
        ),
        Mistake(
            "lstm-old-cell-state",
            (LSTM_OLD_CELL_STATE,),
            LSTM_CELLS,
            ("h_t came out as o * tanh(c_prev): the output uses the NEW cell state",),
        ),
        Mistake(
            "lstm-gates-swapped",
            (LSTM_GATES_SWAPPED,),
            LSTM_CELLS,
            ("c_t came out as i * c_prev + f * candidate: the forget gate is the SECOND block",),
        ),
        Mistake(
            "gru-other-convention",
            (GRU_OTHER_CONVENTION,),
            GRU_CELLS,
            (
                "you computed h = (1 - z) h_prev + z candidate; Keras computes h = z h_prev + (1 - z) candidate",
            ),
        ),
    ],
    "parameter_counts": [
        Mistake(
            "report-gru-formula-and-single-bidirectional",
            (REPORT_GRU_FORMULA, BIDIRECTIONAL_SINGLE),
            GRU_COUNT_CELLS | BIDIRECTIONAL_COUNT_CELLS,
            (
                "GRU(8) on 128 features: expected 3,312, got 3288",
                "your function gave 49,408: a bidirectional layer holds two independent copies",
            ),
            quick=True,
        ),
        Mistake(
            "report-gru-formula",
            (REPORT_GRU_FORMULA,),
            GRU_COUNT_CELLS,
            ("GRU(8) on 128 features: expected 3,312, got 3288",),
        ),
        Mistake(
            "single-bidirectional",
            (BIDIRECTIONAL_SINGLE,),
            BIDIRECTIONAL_COUNT_CELLS,
            ("your function gave 49,408: a bidirectional layer holds two independent copies",),
        ),
    ],
    "imdb_lab_report": [
        Mistake(
            "doubled-units-and-last-epoch-model",
            (DOUBLED_UNITS, LAST_EPOCH_MODEL),
            frozenset(
                {
                    "build-model-visible-test",
                    "build-model-hidden-test-gru",
                    "build-model-hidden-test-lstm",
                    "train-visible-test",
                    "train-hidden-test",
                }
            ),
            (
                "expected (None, 128), got (None, 256): did you double the units?",
                "best_model is the model you trained, which holds the LAST epoch's weights",
                "best_model has the weights of the last epoch",
            ),
            quick=True,
        ),
        Mistake(
            "zero-based-best-epoch-and-negative-confidence",
            (ZERO_BASED_BEST_EPOCH, NEGATIVE_CONFIDENCE),
            frozenset(
                {"summary-visible-test", "summary-hidden-test", "review-visible-test", "review-hidden-test"}
            ),
            (
                "count epochs from 1, use the highest val_accuracy",
                "the best epoch (from 1, the first if tied) is 1, got 0",
                "for a negative verdict the confidence is 1 - probability",
            ),
            quick=True,
        ),
    ],
    "reuters_lab_report": [
        Mistake(
            "categorical-loss-and-transposed-confusion",
            (CATEGORICAL_LOSS, TRANSPOSED_CONFUSION),
            frozenset(
                {"gru-visible-test", "gru-hidden-test", "per-class-visible-test", "per-class-hidden-test"}
            ),
            (
                "the Reuters labels are integers 0 to 45: use loss='sparse_categorical_crossentropy'",
                "your matrix is transposed: rows are the TRUE topics",
                "confusion_matrix differs",
            ),
            quick=True,
        ),
        Mistake(
            "word-counts-instead-of-multi-hot",
            (WORD_COUNTS,),
            frozenset({"multi-hot-visible-test", "baseline-hidden-test"}),
            ("multi-hot stores 1.0 (occurs) or 0.0 (absent), not counts", "multi_hot differs on wires"),
            quick=True,
        ),
    ],
}
# Lab reports train models: they are always graded in quick mode, as their students are told.
LAB_REPORTS = {"imdb_lab_report", "reuters_lab_report"}
MISTAKES = {
    name: [m for m in mistakes if m.quick or not is_quick()] for name, mistakes in ALL_MISTAKES.items()
}

SOLUTION_STUDENT, RELEASE_STUDENT = "solution", "blank-release"
CASES = [(name, mistake) for name, mistakes in MISTAKES.items() for mistake in mistakes]


def run_autograder(*args, quick: bool | None = None) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS``; ``quick`` sets COURSE_QUICK for the grading kernels (None: inherit)."""
    env = dict(os.environ)
    if quick is not None:
        env["COURSE_QUICK"] = "1" if quick else "0"
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=1800,
    )


def student_id(mistake: Mistake) -> str:
    """A short student id: the grader's kernel sockets live below OUT/.work/<student>/, and a Unix
    socket path may not exceed 107 bytes."""
    return f"wrong{[m for ms in ALL_MISTAKES.values() for m in ms].index(mistake)}"


def notebook_paths(assignment: str) -> tuple[Path, Path]:
    notebook = f"{assignment}.ipynb"
    return SOLUTIONS_DIR / assignment / notebook, REPO_ROOT / "assignments" / assignment / notebook


def wrong_submission(assignment: str, mistake: Mistake) -> nbformat.NotebookNode:
    notebook = nbtools.read(notebook_paths(assignment)[0])
    for cell_text, old, new in mistake.edits:
        cell = nbtools.find_cell(notebook, cell_text)
        assert cell.source.count(old) == 1, f"{mistake.name}: {old!r} does not occur once in its cell"
        cell.source = cell.source.replace(old, new)
    return notebook


def gradebook_cell_scores(course: Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """{student: {grade id: (score, max score)}} of the autograded cells, read from the gradebook."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            scores[submission.student.id] = {
                grade.name: (grade.score, grade.max_score)
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.cell_type == "code"
            }
    return scores


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade an assignment's class (solution, blank release, every mistake) once; cached per assignment."""
    results = {}

    def grade(assignment: str) -> dict:
        if assignment not in results:
            root = tmp_path_factory.mktemp(assignment)
            submissions, out = root / "submissions", root / "out"
            solution, release = notebook_paths(assignment)
            class_ = {SOLUTION_STUDENT: nbtools.read(solution), RELEASE_STUDENT: nbtools.read(release)}
            class_.update({student_id(m): wrong_submission(assignment, m) for m in MISTAKES[assignment]})
            for student, notebook in class_.items():
                (submissions / student / assignment).mkdir(parents=True)
                nbformat.write(notebook, submissions / student / assignment / solution.name)
            result = run_autograder(
                submissions, "-a", assignment, "-o", out, quick=assignment in LAB_REPORTS or None
            )
            assert result.returncode == 0, result.stdout + result.stderr
            results[assignment] = {
                "out": out,
                "scores": gradebook_cell_scores(out / "course", assignment),
                "hidden": nbtools.hidden_test_lines(nbtools.read(solution)),
            }
        return results[assignment]

    return grade


def autograded_notebook(out: Path, student: str, assignment: str) -> nbformat.NotebookNode:
    """The student's notebook as nbgrader executed it (outputs and error messages included)."""
    return nbtools.read(out / "course" / "autograded" / student / assignment / f"{assignment}.ipynb")


def total(cells: dict[str, tuple[float, float]]) -> tuple[float, float]:
    return sum(score for score, _ in cells.values()), sum(maximum for _, maximum in cells.values())


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(MISTAKES))
def test_solution_gets_every_autograded_point_without_stderr(graded, assignment):
    result = graded(assignment)
    cells = result["scores"][SOLUTION_STUDENT]
    lost = {name: score for name, (score, maximum) in cells.items() if score != maximum}
    assert not lost, f"the solution loses points in {lost}"
    assert total(cells)[1] > 0
    for cell in autograded_notebook(result["out"], SOLUTION_STUDENT, assignment).cells:
        if cell.cell_type == "code":
            streams = {output.get("name") for output in cell.outputs if output.output_type == "stream"}
            errors = [output for output in cell.outputs if output.output_type == "error"]
            assert "stderr" not in streams and not errors, f"cell {cell.id} wrote to stderr or failed"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(MISTAKES))
def test_blank_release_scores_zero(graded, assignment):
    score, maximum = total(graded(assignment)["scores"][RELEASE_STUDENT])
    assert score == 0 and maximum > 0


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "mistake"), CASES, ids=[f"{a}-{m.name}" for a, m in CASES])
def test_wrong_submission_loses_exactly_the_cells_it_breaks(graded, assignment, mistake):
    result = graded(assignment)
    student = student_id(mistake)
    cells = result["scores"][student]
    assert mistake.failing <= set(cells), f"unknown grade ids: {sorted(mistake.failing - set(cells))}"
    lost = {name for name, (score, maximum) in cells.items() if score < maximum}
    assert lost == mistake.failing, f"expected to lose {sorted(mistake.failing)}, lost {sorted(lost)}"
    score, maximum = total(cells)
    expected = maximum - sum(cells[name][1] for name in mistake.failing)
    assert score == expected and 0 < score < maximum
    graded_notebook = autograded_notebook(result["out"], student, assignment)
    messages = [
        output.get("evalue", "")
        for cell in graded_notebook.cells
        if nbtools.nbgrader_meta(cell).get("grade_id") in mistake.failing
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    for hint in mistake.hints:
        assert any(hint in message for message in messages), (
            f"no failing cell tells the student {hint!r}; they say: {messages}"
        )
    feedback = result["out"] / "feedback" / student / f"{assignment}.html"
    text = html.unescape(feedback.read_text(encoding="utf-8"))
    for line in result["hidden"]:
        assert line not in text, f"hidden test shown in the feedback: {line}"
