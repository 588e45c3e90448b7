"""Graded classes shared by the grading tests: each class is graded ONCE per test run.

:class:`GradedRuns` (the session fixture ``graded`` in ``tests/conftest.py``) grades in the background,
from the end of collection, two runs at a time:

* per assignment, one class: the solution, the blank release and the typical wrong submissions of
  :data:`ALL_MISTAKES` (``numpy_rnn`` also gets an unreadable notebook and a renamed one, and arrives
  as a zip, as LMS exports do). ``numpy_rnn`` is graded sequentially (``--workers 1``): its solution
  and its wrong submission are the solo grades the adversarial run is compared with;
* whatever else a test module starts in its ``start_grading(runs, items)`` (the adversarial class).

Every assertion reads the same graded run: the autograded notebooks (the one execution of each
solution also serves ``nbgrader validate``'s verdict, see :func:`validate_executed`), the gradebook,
the CSV and the feedback. Lab reports are always graded with ``COURSE_QUICK=1``, as their students
are told, whatever the mode of the test run.
"""

import csv
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import attacks
import nbformat
import nbtools

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
    flagged: str = ""  # the static flag the submission must get in its reason ("": not flagged)


# Edits: each one typical mistake, in the words of the solution cells.
# numpy_rnn: the loop is right, but a given initial state is ignored (always zeros).
IGNORES_INITIAL_STATE = (
    "def rnn_forward",
    "if h0 is None else h0",
    "if h0 is None else np.zeros_like(h0)",
)
NO_TANH_DERIVATIVE = ("def rnn_backward", "da = dh * (1.0 - states[:, t] ** 2)", "da = dh")
DU_OVERWRITTEN = ("def rnn_backward", "dU += da.T @ h_prev", "dU = da.T @ h_prev")
LSTM_OLD_CELL_STATE = (
    "def lstm_step",
    "h_t = sigmoid(o) * np.tanh(c_t)",
    "h_t = sigmoid(o) * np.tanh(c_prev)",
)
LSTM_GATES_SWAPPED = ("def lstm_step", "i, f, g, o = np.split(", "f, i, g, o = np.split(")
# gru_step takes Keras' sigmoid in a "NumPy only" assignment: the static scan flags it for a human.
KERAS_IN_NUMPY_ONLY = (
    "def gru_step",
    "    z = sigmoid(x_z + h_z)",
    "    import keras\n\n    z = np.asarray(keras.activations.sigmoid(x_z + h_z))",
)
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
# Early stopping and the checkpoint on val_loss, not val_accuracy (the hidden tests include a toy
# problem where the two disagree).
VAL_LOSS_STOPPING = (
    "def train_with_checkpoint",
    'EarlyStopping(monitor="val_accuracy", mode="max", patience=patience)',
    'EarlyStopping(monitor="val_loss", patience=patience)',
)
VAL_LOSS_CHECKPOINT = (
    "def train_with_checkpoint",
    'checkpoint_path, monitor="val_accuracy", mode="max", save_best_only=True',
    'checkpoint_path, monitor="val_loss", save_best_only=True',
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

# char_rnn: the log-softmax of the loss over the batch axis, targets one step early, the temperature
# applied to the probabilities (two ways), and the perplexity of the summed cross-entropy.
SOFTMAX_OVER_BATCH = (
    "def sequence_loss",
    """shifted = logits - logits.max(axis=-1, keepdims=True)  # stable log-softmax over the vocabulary
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))""",
    """shifted = logits - logits.max(axis=0, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))""",
)
TARGETS_OFF_BY_ONE = (
    "def sequence_loss",
    "inputs, targets = ids[:, :-1], ids[:, 1:]",
    "inputs, targets = ids[:, :-1], ids[:, :-1]",
)
UNSCALED_LOGITS = (
    "def sample_next",
    "scaled = logits / temperature  # the temperature divides the logits, before the softmax",
    "scaled = logits",
)
POWER_AFTER_SOFTMAX = (
    "def sample_next",
    "cumulative = np.cumsum(p, axis=-1)",
    "cumulative = np.cumsum(p ** (1 / temperature), axis=-1)",
)
DIVIDED_AFTER_SOFTMAX = (
    "def sample_next",
    "cumulative = np.cumsum(p, axis=-1)",
    "cumulative = np.cumsum(p / temperature, axis=-1)",
)
PERPLEXITY_OF_SUM = (
    "def perplexity",
    "return float(np.exp(mean_cross_entropy))",
    "return float(np.exp(mean_cross_entropy * np.size(np.asarray(ids)[:, 1:])))",
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
LOSS_CELLS = frozenset({"loss-visible-test", "loss-hidden-test"})
SAMPLE_CELLS = frozenset({"sample-visible-test", "sample-hidden-test"})
PERPLEXITY_CELLS = frozenset({"perplexity-visible-test", "perplexity-hidden-test"})
GRU_COUNT_CELLS = frozenset({"gru-test", "model-params-test-gru-bidirectional"})
BIDIRECTIONAL_COUNT_CELLS = frozenset({"bidirectional-test", "model-params-test-gru-bidirectional"})

# nbgrader takes about 13 s per submission here (35-40 s for a lab report, which trains two models in
# quick mode), so quick mode (the default of the test suite) grades one submission per assignment that
# combines mistakes breaking disjoint cells (two for the lab reports: one combined mistake must leave
# some points); COURSE_QUICK=0 also grades each mistake on its own. A mistake with several hints must
# show every one of them in the messages of its failing cells.
ALL_MISTAKES = {
    "numpy_rnn": [
        Mistake(
            "forward-ignores-initial-state",
            (IGNORES_INITIAL_STATE,),
            frozenset({"rnn-forward-hidden-test-initial-state"}),
            ("rnn_forward with a given h0",),
            quick=True,
        ),
    ],
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
            "lstm-old-cell-state-and-gru-convention-with-keras",
            (LSTM_OLD_CELL_STATE, GRU_OTHER_CONVENTION, KERAS_IN_NUMPY_ONLY),
            LSTM_CELLS | GRU_CELLS,
            (
                "h_t came out as o * tanh(c_prev): the output uses the NEW cell state",
                "you computed h = (1 - z) h_prev + z candidate; Keras computes h = z h_prev + (1 - z) candidate",
            ),
            quick=True,
            flagged="uses Keras/TensorFlow in a NumPy-only solution (cell gru-solution)",
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
            "zero-based-best-epoch-negative-confidence-and-val-loss-monitor",
            (ZERO_BASED_BEST_EPOCH, NEGATIVE_CONFIDENCE, VAL_LOSS_STOPPING, VAL_LOSS_CHECKPOINT),
            frozenset(
                {
                    "summary-visible-test",
                    "summary-hidden-test",
                    "review-visible-test",
                    "review-hidden-test",
                    "train-hidden-test",
                }
            ),
            (
                "does EarlyStopping watch val_accuracy with mode='max' and patience=patience?",
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
    "char_rnn": [
        Mistake(
            "temperature-after-softmax-and-perplexity-of-sum",
            (UNSCALED_LOGITS, POWER_AFTER_SOFTMAX, PERPLEXITY_OF_SUM),
            SAMPLE_CELLS | PERPLEXITY_CELLS,
            (
                "divide the logits by the temperature BEFORE the softmax",
                "is exp of the SUM of the 6 cross-entropies: use exp of the MEAN",
            ),
            quick=True,
        ),
        Mistake(
            "softmax-over-batch",
            (SOFTMAX_OVER_BATCH,),
            LOSS_CELLS | PERPLEXITY_CELLS,
            (
                "normalise over the vocabulary, the LAST axis of the logits (N, V), not axis 0",
                "takes the softmax over the batch (axis 0), not the vocabulary",
            ),
        ),
        Mistake(
            "targets-off-by-one",
            (TARGETS_OFF_BY_ONE,),
            LOSS_CELLS | PERPLEXITY_CELLS,
            (
                "the target of step t is the NEXT character, ids[:, t + 1]",
                "predicts ids[:, t], not the next character ids[:, t + 1]",
            ),
        ),
        Mistake(
            "temperature-power-after-softmax",
            (UNSCALED_LOGITS, POWER_AFTER_SOFTMAX),
            SAMPLE_CELLS,
            ("Your draws are right at temperature 1 only: divide the logits by the temperature BEFORE",),
        ),
        Mistake(
            "temperature-divides-probabilities",
            (UNSCALED_LOGITS, DIVIDED_AFTER_SOFTMAX),
            SAMPLE_CELLS,
            ("divide the logits by the temperature BEFORE the softmax",),
        ),
        Mistake(
            "perplexity-of-sum",
            (PERPLEXITY_OF_SUM,),
            PERPLEXITY_CELLS,
            (
                "is exp of the SUM of the 6 cross-entropies: use exp of the MEAN",
                "perplexity is exp of the sum, not of the mean cross-entropy",
            ),
        ),
    ],
}
# Lab reports train models: they are always graded in quick mode, as their students are told.
LAB_REPORTS = {"imdb_lab_report", "reuters_lab_report"}
# ... and with limits that a loaded test machine cannot reach: in a test run their kernels share two
# cores with other classes' and the book build's, and a quick training cell that took 34 s here beside
# one other run can pass nbgrader_config.py's 120 s there (a CI run lost a mistake's later cells so).
# These tests check points, not speed; tests/test_autograder_adversarial.py tests the limits.
LAB_REPORT_LIMITS = ("--cell-timeout", "900", "--notebook-timeout", "2400")
MISTAKES = {
    name: [m for m in mistakes if m.quick or not is_quick()] for name, mistakes in ALL_MISTAKES.items()
}
SOLUTION_STUDENT, RELEASE_STUDENT = "solution", "blank-release"
# Every other class also holds the blank release with every attack of tests/attacks.py in its answers
# (numpy_rnn's attacks are graded one by one in tests/test_autograder_adversarial.py).
ATTACK_STUDENT = "attacker"
# numpy_rnn's class also holds submissions that cannot be graded: {student: (file name, raw bytes)}.
UNREADABLE_STUDENT, RENAMED_STUDENT = "broken-json", "renamed"
ZIPPED_ASSIGNMENTS = {"numpy_rnn"}
SEQUENTIAL_ASSIGNMENTS = {"numpy_rnn"}


def run_autograder(*args, quick: bool | None = None, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS``; ``quick`` sets COURSE_QUICK for the grading kernels (None: inherit).

    The grader refuses to run student code without its sandbox: tests that grade declare
    ``@pytest.mark.needs("bwrap")`` instead of falling back to ``--sandbox off``."""
    env = dict(os.environ)
    if quick is not None:
        env["COURSE_QUICK"] = "1" if quick else "0"
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=1800,
    )


def mistake_student(mistake: Mistake) -> str:
    """The student id of a mistake: wrong0, wrong1, ..."""
    return f"wrong{[m for ms in ALL_MISTAKES.values() for m in ms].index(mistake)}"


def notebook_paths(assignment: str) -> tuple[Path, Path]:
    """(solution source, student release) of an assignment."""
    notebook = f"{assignment}.ipynb"
    return SOLUTIONS_DIR / assignment / notebook, REPO_ROOT / "assignments" / assignment / notebook


def wrong_submission(assignment: str, mistake: Mistake) -> nbformat.NotebookNode:
    notebook = nbtools.read(notebook_paths(assignment)[0])
    for cell_text, old, new in mistake.edits:
        cell = nbtools.find_cell(notebook, cell_text)
        assert cell.source.count(old) == 1, f"{mistake.name}: {old!r} does not occur once in its cell"
        cell.source = cell.source.replace(old, new)
    return notebook


def write_submissions(folder: Path, assignment: str, students: dict) -> None:
    """``students``: {id: notebook | (file name, notebook or raw bytes) | None (a folder without one)}."""
    default_name = f"{assignment}.ipynb"
    for student, content in students.items():
        target = folder / student / assignment
        target.mkdir(parents=True)
        name, body = content if isinstance(content, tuple) else (default_name, content)
        if body is None:
            (target / "README.txt").write_text("I forgot the notebook")
        elif isinstance(body, bytes):
            (target / name).write_bytes(body)
        else:
            nbformat.write(body, target / name)


def zip_folder(folder: Path, archive: Path, wrapper: str = "downloads") -> Path:
    """Zip ``folder``'s contents below one wrapping folder, as an LMS export does."""
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, f"{wrapper}/{path.relative_to(folder)}")
    return archive


def read_rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


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


def total(cells: dict[str, tuple[float, float]]) -> tuple[float, float]:
    return sum(score for score, _ in cells.values()), sum(maximum for _, maximum in cells.values())


def validate_executed(path: Path) -> dict:
    """nbgrader validate's verdict on a notebook that the grader has already executed.

    ``nbgrader validate`` clears a notebook, executes it and reports failing test cells; here the
    execution is the grading run's (same kernel set-up, hidden tests included), so only nbgrader's
    metadata check runs before its verdict. ``{}`` means "Success! Your notebook passes all the tests.";
    otherwise the keys say what failed (``failed``, ``changed``, ``type_changed``)."""
    from nbgrader.preprocessors import CheckCellMetadata
    from nbgrader.validator import Validator

    return Validator(preprocessors=[CheckCellMetadata]).validate(str(path))


@dataclass
class GradedRun:
    """One autograder run over a class: the process result and what it wrote under ``out``."""

    assignment: str
    out: Path
    result: subprocess.CompletedProcess
    students: list[str]

    @cached_property
    def rows(self) -> dict[str, dict]:
        return read_rows(self.out)

    @cached_property
    def scores(self) -> dict[str, dict[str, tuple[float, float]]]:
        return gradebook_cell_scores(self.out / "course", self.assignment)

    def autograded_path(self, student: str) -> Path:
        return self.out / "course" / "autograded" / student / self.assignment / f"{self.assignment}.ipynb"

    def autograded_notebook(self, student: str) -> nbformat.NotebookNode:
        """The student's notebook as nbgrader executed it (outputs and error messages included)."""
        return nbtools.read(self.autograded_path(student))

    def output_text(self, student: str) -> str:
        """Every text output of the student's autograded notebook, joined."""
        notebook = json.loads(self.autograded_path(student).read_text(encoding="utf-8"))
        return "\n".join(
            output.get("text", "") if isinstance(output.get("text", ""), str) else "".join(output["text"])
            for cell in notebook["cells"]
            for output in cell.get("outputs", [])
        )

    def feedback_path(self, student: str) -> Path:
        return self.out / "feedback" / student / f"{self.assignment}.html"

    def log(self) -> str:
        return self.result.stdout[-4000:] + self.result.stderr[-4000:]


class GradedRuns:
    """Graded runs, each computed once per test session, in the background.

    ``tests/conftest.py`` starts every run that the collected tests will read as soon as collection
    is over (a test module lists them in ``start_grading(runs, items)``), up to :data:`CONCURRENT_RUNS`
    at a time; a test that reads a run waits for it. The grader spends much of its time waiting on
    kernels, so two runs (and the book build) share two cores well.
    """

    CONCURRENT_RUNS = 2

    def __init__(self, root: Path):
        self.root = root
        self.pool = ThreadPoolExecutor(max_workers=self.CONCURRENT_RUNS, thread_name_prefix="grading")
        self.futures: dict[str, Future] = {}
        self.lock = threading.Lock()

    def submit(self, key: str, grade: Callable[[Path], object]) -> Future:
        """Start ``grade(folder)`` in the background unless ``key`` was started already."""
        with self.lock:
            if key not in self.futures:
                folder = self.root / key
                folder.mkdir(parents=True)
                self.futures[key] = self.pool.submit(grade, folder)
            return self.futures[key]

    def result(self, key: str, grade: Callable[[Path], object]):
        return self.submit(key, grade).result()

    def assignment_class(self, assignment: str) -> GradedRun:
        """The assignment's class (solution, blank release, mistakes), graded once."""
        return self.result(assignment, lambda folder: grade_class(assignment, folder))

    def start_classes(self, assignments) -> None:
        for assignment in assignments:
            self.submit(assignment, lambda folder, name=assignment: grade_class(name, folder))

    def shutdown(self) -> None:
        """Drop the runs not started yet (the session is over); running ones end on their own."""
        self.pool.shutdown(wait=False, cancel_futures=True)


def grade_class(assignment: str, root: Path) -> GradedRun:
    """Grade an assignment's class in ``root``: solution, blank release, each mistake (+ extras)."""
    submissions, out = root / "submissions", root / "out"
    solution, release = notebook_paths(assignment)
    students = {SOLUTION_STUDENT: nbtools.read(solution), RELEASE_STUDENT: nbtools.read(release)}
    students.update({mistake_student(m): wrong_submission(assignment, m) for m in MISTAKES[assignment]})
    if assignment not in SEQUENTIAL_ASSIGNMENTS:
        students[ATTACK_STUDENT] = attacks.attack_notebook(nbtools.read(release))
    if assignment == "numpy_rnn":
        students[UNREADABLE_STUDENT] = b'{"cells": [ this is not json'
        students[RENAMED_STUDENT] = ("my_homework.ipynb", nbtools.read(solution))
    write_submissions(submissions, assignment, students)
    if assignment in ZIPPED_ASSIGNMENTS:
        submissions = zip_folder(submissions, root / "class.zip")
    options = ["--workers", "1"] if assignment in SEQUENTIAL_ASSIGNMENTS else []
    options += LAB_REPORT_LIMITS if assignment in LAB_REPORTS else ()
    result = run_autograder(
        submissions, "-a", assignment, "-o", out, *options, quick=assignment in LAB_REPORTS or None
    )
    return GradedRun(assignment, out, result, sorted(students))
