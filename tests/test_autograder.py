"""End to end: the autograder grades a class of submissions; scores are read from the gradebook.

The class is numpy_rnn's of ``tests/grading.py`` (graded once per run, from a zip, one worker): the
solution, the blank release, a wrong forward pass, an unreadable notebook and a renamed one.
"""

import shutil
import zipfile

import nbtools
import pytest
from grading import (
    RELEASE_STUDENT,
    RENAMED_STUDENT,
    SOLUTION_STUDENT,
    UNREADABLE_STUDENT,
    run_autograder,
    total,
)

from autograder.grade import REPO_ROOT, SOLUTIONS_DIR, UsageError, extract_zip, find_submission_root

ASSIGNMENT = "numpy_rnn"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTIONS_AT_COLLECTION = nbtools.tree_digest(SOLUTIONS_DIR)


@pytest.fixture(scope="module")
def numpy_class(graded):
    return graded.assignment_class(ASSIGNMENT)


def start_grading(runs, items):
    runs.start_classes([ASSIGNMENT])  # in the background, from the end of collection


def graded_test(test):
    """A test that reads the graded class: slow, and the grader needs its sandbox."""
    return pytest.mark.slow(pytest.mark.needs("bwrap")(test))


@graded_test
def test_grading_finishes_and_reports_the_unreadable_submission(numpy_class):
    result = numpy_class.result
    assert result.returncode == 1, numpy_class.log()
    assert set(numpy_class.rows) == set(numpy_class.students)
    graded = len(numpy_class.students) - 1
    assert f"Done: {graded} graded, 1 failed" in result.stdout, result.stdout[-2000:]


@graded_test
def test_csv_rows_match_the_gradebook_and_give_reasons(numpy_class):
    rows, scores = numpy_class.rows, numpy_class.scores
    for student in set(numpy_class.students) - {UNREADABLE_STUDENT}:
        assert rows[student]["status"] == "graded", rows[student]
        score, maximum = total(scores[student])
        assert float(rows[student]["auto_score"]) == score
        assert float(rows[student]["auto_max"]) == maximum
    solution = rows[SOLUTION_STUDENT]
    assert solution["needs_manual_grading"] == "True", "the written answer awaits a human grader"
    assert float(solution["manual_max"]) > 0
    broken = rows[UNREADABLE_STUDENT]
    assert broken["status"] == "error" and float(broken["total_score"]) == 0
    assert "autograde failed" in broken["reason"]
    assert total(scores[RENAMED_STUDENT])[0] == 0, "a renamed notebook is not graded"
    assert f"missing {NOTEBOOK} (found: my_homework.ipynb)" in rows[RENAMED_STUDENT]["reason"]
    cell_columns = [c for c in solution if c.startswith(f"{ASSIGNMENT}:")]
    assert cell_columns, "one column per graded cell"
    assert sum(float(solution[c] or 0) for c in cell_columns) == float(solution["total_score"])


@graded_test
def test_every_graded_student_gets_feedback(numpy_class):
    for student in (SOLUTION_STUDENT, RELEASE_STUDENT):
        assert numpy_class.feedback_path(student).is_file(), f"no feedback for {student}"


@graded_test
def test_solutions_are_never_touched(numpy_class):
    assert nbtools.tree_digest(SOLUTIONS_DIR) == SOLUTIONS_AT_COLLECTION
    assert not (REPO_ROOT / "gradebook.db").exists()


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [tmp / "missing", "-a", ASSIGNMENT], "does not exist"),
        (lambda tmp: [tmp, "-a", ASSIGNMENT], "no submissions in"),
        (lambda tmp: [tmp, "-a", "no_such_assignment"], "unknown assignment 'no_such_assignment'"),
    ],
    ids=["wrong-path", "empty-folder", "unknown-assignment"],
)
@pytest.mark.needs("bwrap")  # without a sandbox the grader stops earlier, with that error instead
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
