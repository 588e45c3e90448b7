"""End to end: the autograder grades a class of submissions; scores are read from the gradebook."""

import csv
import html
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import nbtools
import pytest

from autograder.grade import REPO_ROOT, SOLUTIONS_DIR, UsageError, extract_zip, find_submission_root
from autograder.sandbox import bwrap_problem

ASSIGNMENT = "numpy_rnn"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION = SOLUTIONS_DIR / ASSIGNMENT / NOTEBOOK
RELEASE = REPO_ROOT / "assignments" / ASSIGNMENT / NOTEBOOK

# A plausible slip: the loop is right, but the initial state is ignored (always zeros).
IGNORES_INITIAL_STATE = """

_rnn_forward_that_works = rnn_forward


def rnn_forward(inputs, W, U, b, h0=None, return_sequences=True):
    return _rnn_forward_that_works(inputs, W, U, b, None, return_sequences)
"""


def run_autograder(*args, cwd=REPO_ROOT):
    # The autograder refuses to run student code without its sandbox unless told so explicitly.
    unsandboxed = ["--sandbox", "off"] if bwrap_problem() is not None else []
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args), *unsandboxed],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=1200,
    )


def submit(folder: Path, student: str, notebook=None, raw: bytes | None = None, name: str = NOTEBOOK):
    target = folder / student / ASSIGNMENT
    target.mkdir(parents=True)
    if raw is not None:
        (target / name).write_bytes(raw)
    else:
        nbformat.write(notebook, target / name)


def wrong_forward_submission():
    notebook = nbtools.read(SOLUTION)
    cell = nbtools.find_cell(notebook, "def rnn_forward")
    cell.source += IGNORES_INITIAL_STATE
    return notebook


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Five students graded in one run: full marks, blank, one wrong function, broken JSON, renamed."""
    root = tmp_path_factory.mktemp("class")
    submissions, out = root / "submissions", root / "out"
    submit(submissions, "alice", nbtools.read(SOLUTION))
    submit(submissions, "bob", nbtools.read(RELEASE))
    submit(submissions, "carol", wrong_forward_submission())
    submit(submissions, "dave", raw=b'{"cells": [ this is not json')
    submit(submissions, "erin", nbtools.read(SOLUTION), name="my_homework.ipynb")
    solutions_before = nbtools.tree_digest(SOLUTIONS_DIR)
    result = run_autograder(submissions, "--assignment", ASSIGNMENT, "--out", out)
    return {
        "result": result,
        "out": out,
        "solutions_before": solutions_before,
        "rows": {row["student_id"]: row for row in csv.DictReader(open(out / "grades.csv"))},
    }


def gradebook_scores(out: Path) -> dict[str, tuple[float, float]]:
    """{student: (autograded score, autograded max)} read from the gradebook, not from printed text."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            auto = [
                grade
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.cell_type == "code"
            ]
            scores[submission.student.id] = (
                sum(grade.score for grade in auto),
                sum(grade.max_score for grade in auto),
            )
    return scores


@pytest.mark.slow
def test_grading_finishes_and_reports_the_broken_submission(graded_class):
    result = graded_class["result"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert set(graded_class["rows"]) == {"alice", "bob", "carol", "dave", "erin"}
    assert "Done: 4 graded, 1 failed" in result.stdout


@pytest.mark.slow
def test_scores_read_from_the_gradebook(graded_class):
    scores = gradebook_scores(graded_class["out"])
    alice, alice_max = scores["alice"]
    assert alice_max > 0 and alice == alice_max, "the solution must get every autograded point"
    assert scores["bob"][0] == 0, "the blank release must score 0"
    assert 0 < scores["carol"][0] < alice_max, "one wrong function must lose some points, not all"
    assert scores["erin"][0] == 0, "a renamed notebook is not graded"


@pytest.mark.slow
def test_csv_rows_match_the_gradebook_and_give_reasons(graded_class):
    rows, scores = graded_class["rows"], gradebook_scores(graded_class["out"])
    for student in ("alice", "bob", "carol", "erin"):
        assert rows[student]["status"] == "graded"
        assert float(rows[student]["auto_score"]) == scores[student][0]
        assert float(rows[student]["auto_max"]) == scores[student][1]
    assert rows["alice"]["needs_manual_grading"] == "True", "the written answer awaits a human grader"
    assert float(rows["alice"]["manual_max"]) > 0
    assert rows["dave"]["status"] == "error" and float(rows["dave"]["total_score"]) == 0
    assert "autograde failed" in rows["dave"]["reason"]
    assert f"missing {NOTEBOOK} (found: my_homework.ipynb)" in rows["erin"]["reason"]
    cell_columns = [c for c in rows["alice"] if c.startswith(f"{ASSIGNMENT}:")]
    assert cell_columns, "one column per graded cell"
    assert sum(float(rows["alice"][c] or 0) for c in cell_columns) == float(rows["alice"]["total_score"])


@pytest.mark.slow
def test_feedback_is_written_without_hidden_tests(graded_class):
    hidden = nbtools.hidden_test_lines(nbtools.read(SOLUTION))
    for student in ("alice", "bob", "carol"):
        page = graded_class["out"] / "feedback" / student / f"{ASSIGNMENT}.html"
        assert page.is_file(), f"no feedback for {student}"
        text = html.unescape(page.read_text(encoding="utf-8"))
        assert "HIDDEN TESTS" not in text
        for line in hidden:
            assert line not in text, f"hidden test shown to {student}: {line}"


@pytest.mark.slow
def test_solutions_are_never_touched(graded_class):
    assert nbtools.tree_digest(SOLUTIONS_DIR) == graded_class["solutions_before"]
    assert not (REPO_ROOT / "gradebook.db").exists()


@pytest.mark.slow
def test_a_zip_of_submissions_is_graded_like_a_folder(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"downloads/frank/{ASSIGNMENT}/{NOTEBOOK}", json.dumps(nbtools.read(SOLUTION)))
    result = run_autograder(archive, "-a", ASSIGNMENT, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    score, maximum = gradebook_scores(tmp_path / "out")["frank"]
    assert score == maximum > 0


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [tmp / "missing", "-a", ASSIGNMENT], "does not exist"),
        (lambda tmp: [tmp, "-a", ASSIGNMENT], "no submissions in"),
        (lambda tmp: [tmp, "-a", "no_such_assignment"], "unknown assignment 'no_such_assignment'"),
    ],
    ids=["wrong-path", "empty-folder", "unknown-assignment"],
)
def test_bad_arguments_get_one_line_and_exit_2(tmp_path, make_args, message):
    result = run_autograder(*make_args(tmp_path), "-o", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_zip_entries_escaping_the_folder_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../outside.txt", "x")
    with pytest.raises(UsageError, match="points outside the archive"):
        extract_zip(archive, tmp_path / "unzipped")
    assert not (tmp_path / "outside.txt").exists()


def test_one_wrapping_folder_is_looked_through(tmp_path):
    (tmp_path / "export" / "alice" / ASSIGNMENT).mkdir(parents=True)
    assert find_submission_root(tmp_path, ASSIGNMENT) == tmp_path / "export"
    shutil.rmtree(tmp_path / "export")
    (tmp_path / "alice" / ASSIGNMENT).mkdir(parents=True)
    assert find_submission_root(tmp_path, ASSIGNMENT) == tmp_path


def test_the_sandboxed_kernel_is_told_where_the_datasets_are(tmp_path, monkeypatch):
    """The kernel sees the dataset folder only at its resolved path (a symlinked ../shared, or a
    repository under /tmp, a private tmpfs in the sandbox, would hide it and Keras would download)."""
    from autograder import sandbox

    data = tmp_path / "real" / "keras"
    data.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "link" / "keras"))
    settings = sandbox.sandbox_settings(sandbox=True, memory_bytes=0, runtime_dir=tmp_path)
    assert settings["data_dir"] == str(data.resolve())
    command = sandbox.bwrap_command(settings, str(tmp_path), ["python"])
    bound = [command[i + 1] for i, arg in enumerate(command) if arg == "--ro-bind"]
    assert str(data.resolve()) in bound
    separator = command.index("--")
    told = [command[i + 2] for i, arg in enumerate(command[:separator]) if arg == "--setenv"]
    names = [command[i + 1] for i, arg in enumerate(command[:separator]) if arg == "--setenv"]
    assert told[len(names) - 1 - names[::-1].index("COURSE_DATA_DIR")] == str(data.resolve())
