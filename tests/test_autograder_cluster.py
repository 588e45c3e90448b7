"""Grading on a Dask cluster: a real scheduler and two workers on 127.0.0.1, each in a folder of its own
(no shared grading folder), grade numpy_rnn's class of ``tests/grading.py`` (honest, wrong, broken and
renamed submissions) and two adversarial ones through ``--cluster``; the CSV and the gradebook equal
the local run's. Then a worker is killed while it grades, and every student is still graded or
recorded with a reason.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attacks
import nbformat
import pytest
from grading import (
    RELEASE_STUDENT,
    SOLUTION_STUDENT,
    gradebook_cell_scores,
    notebook_paths,
    read_rows,
    run_autograder,
)

from autograder.cluster import LoopbackCluster
from autograder.grade import extract_zip, find_submission_root

ASSIGNMENT = "numpy_rnn"
ATTACKERS = ("attack-hooks", "attack-forger")
# Columns that say where and how a row was graded, not what it earned.
LOCAL_ONLY = {"reason", "sandbox"}


def grades_on_a_cluster(test):
    """A test that grades on a loopback cluster: slow, and its workers need the sandbox."""
    return pytest.mark.slow(pytest.mark.needs("bwrap")(test))


def start_grading(runs, items):
    runs.start_classes([ASSIGNMENT])  # the local run compared with, in the background


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One loopback cluster for the module (its workers load Keras once): the test that kills a
    worker comes last."""
    loopback = LoopbackCluster(tmp_path_factory.mktemp("cluster"), workers=2)
    yield loopback
    loopback.close()


def cluster_class(graded, folder: Path, attackers=ATTACKERS) -> tuple[Path, Path]:
    """(submissions, local output): the graded numpy_rnn class, plus the adversarial submissions."""
    run = graded.assignment_class(ASSIGNMENT)
    submissions = find_submission_root(extract_zip(run.out.parent / "class.zip", folder), ASSIGNMENT)
    release = nbformat.read(notebook_paths(ASSIGNMENT)[1], as_version=4)
    kinds = {
        "attack-hooks": {"forger": False, "leak": False},
        "attack-forger": {"hooks": False, "leak": False},
    }
    for student in attackers:
        (submissions / student / ASSIGNMENT).mkdir(parents=True)
        notebook = attacks.attack_notebook(release, **kinds[student])
        nbformat.write(notebook, submissions / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return submissions, run.out


def task_folders() -> set[Path]:
    """The temporary folders of grading tasks (autograder/cluster.py) on this machine."""
    return set(Path(tempfile.gettempdir()).glob("ag-task-*"))


def what_was_earned(row: dict) -> dict:
    return {key: value for key, value in row.items() if key not in LOCAL_ONLY}


@grades_on_a_cluster
def test_a_loopback_cluster_grades_the_class_as_a_local_run_does(graded, cluster, tmp_path):
    submissions, local = cluster_class(graded, tmp_path / "class")
    out = tmp_path / "out"

    result = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out, "--cluster", cluster.address)

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]  # broken-json
    assert f"on the cluster at {cluster.address}" in result.stdout and "2 worker(s)" in result.stdout
    rows, local_rows = read_rows(out), read_rows(local)
    assert set(rows) == set(local_rows) | set(ATTACKERS)
    for student, local_row in local_rows.items():
        assert what_was_earned(rows[student]) == what_was_earned(local_row), student
        assert rows[student]["reason"] == local_row["reason"], student
    cells = gradebook_cell_scores(out / "course", ASSIGNMENT)
    local_cells = gradebook_cell_scores(local / "course", ASSIGNMENT)
    assert {s: cells[s] for s in local_cells} == local_cells
    for student in ATTACKERS:  # what the blank release earns, and a human is told
        assert cells[student] == local_cells[RELEASE_STUDENT], student
        assert rows[student]["flagged"] == "True", rows[student]["reason"]
    for student in rows:
        assert (out / "logs" / f"{student}.log").is_file(), student
    assert "graded on worker" in (out / "logs" / f"{SOLUTION_STUDENT}.log").read_text(encoding="utf-8")
    assert (out / "feedback" / SOLUTION_STUDENT / f"{ASSIGNMENT}.html").is_file()
    assert not (out / ".work").exists()
    assert not task_folders(), "a task left its folder on a worker"


@grades_on_a_cluster
def test_a_worker_killed_while_grading_loses_no_student(graded, cluster, tmp_path):
    submissions, local = cluster_class(graded, tmp_path / "class", attackers=())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", str(submissions), "-a", ASSIGNMENT, "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--cluster", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    before = task_folders()
    deadline, busy = time.monotonic() + 300, None
    while busy is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        busy = cluster.busy_worker()
    assert busy is not None, "no worker ever started a task"
    cluster.kill(cluster.workers[busy])

    stdout, stderr = process.communicate(timeout=600)

    assert process.returncode == 1, stdout[-3000:] + stderr[-3000:]  # broken-json
    rows, local_rows = read_rows(out), read_rows(local)
    assert set(rows) == set(local_rows)
    for student, row in rows.items():
        if row["status"] == "graded":  # Dask ran the lost task again on the other worker
            assert what_was_earned(row) == what_was_earned(local_rows[student]), student
        else:  # or it failed there too (a busy machine): recorded, never lost
            assert row["status"] == "error" and row["reason"], (student, row)
    for folder in task_folders() - before:  # the killed worker's task never cleaned up after itself
        shutil.rmtree(folder, ignore_errors=True)


def test_a_worker_with_another_environment_refuses_to_grade():
    from autograder.cluster import environment, grade_task

    expected = {**environment(), "keras": "2.0.0"}  # what the grading command has
    settings = {"assignment": ASSIGNMENT, "limits": {}, "late_penalty": "none", "environment": expected}

    reply = grade_task({}, "alice", b"", settings)

    assert reply["outcome"]["status"] == "error" and reply["work"] == b""
    (reason,) = reply["outcome"]["reasons"]
    assert "not the course environment (keras 2.0.0 here, " in reason and " on the worker)" in reason
