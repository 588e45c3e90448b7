"""An instructor's term with the autograder: reruns after manual grading, one-student regrades, a
subset of the class, a changed assignment source, Ctrl-C, and the small things around them.

Every grading test starts from a copy of numpy_rnn's class of ``tests/grading.py`` (graded once per
run: "solution", "blank-release", "wrong0", "broken-json", "renamed") and reruns the grader on the
copy: students already graded are skipped, so a rerun costs seconds. One notebook in all is executed
again here (the renamed submission, once fixed, in the Ctrl-C test's resumed run).
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grading import (
    RELEASE_STUDENT,
    RENAMED_STUDENT,
    SOLUTION_STUDENT,
    read_rows,
    run_autograder,
)

from autograder import grade as grade_module
from autograder.grade import REPO_ROOT, SOLUTIONS_DIR, extract_zip, find_submission_root, main
from autograder.report import save_histogram

ASSIGNMENT = "numpy_rnn"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
ANSWER_CELL = "parameter-count-answer"  # numpy_rnn's manually graded cell
WRONG_STUDENT = "wrong0"
BANNER = re.compile(r"cell timeout \d+ s \(nbgrader_config\.py\)")


def start_grading(runs, items):
    runs.start_classes([ASSIGNMENT])  # in the background, from the end of collection


def graded_test(test):
    """A test that grades: slow, and the grader needs its sandbox."""
    return pytest.mark.slow(pytest.mark.needs("bwrap")(test))


@pytest.fixture
def term(graded, tmp_path):
    """(submissions folder, output folder): a private copy of the graded class and its output."""
    run = graded.assignment_class(ASSIGNMENT)
    assert WRONG_STUDENT in run.students
    out = tmp_path / "out"
    shutil.copytree(run.out, out)
    unzipped = extract_zip(run.out.parent / "class.zip", tmp_path / "unzipped")
    return find_submission_root(unzipped, ASSIGNMENT), out


def scores(row: dict) -> dict:
    """Everything in a CSV row but the text columns that may legitimately change."""
    return {key: value for key, value in row.items() if key not in ("reason",)}


def cells_of(row: dict) -> dict:
    return {key: value for key, value in row.items() if key.startswith(f"{ASSIGNMENT}:")}


# --------------------------------------------------------------------------------------------
# Reruns: the whole gradebook, every run


@graded_test
def test_rerun_after_manual_grading_keeps_reasons_flags_and_manual_scores(term):
    from nbgrader.api import Gradebook

    submissions, out = term
    before = read_rows(out)
    comment = "Right count; say where the H x H term comes from."
    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gradebook:  # as the formgrader does
        answer = gradebook.find_grade(ANSWER_CELL, ASSIGNMENT, ASSIGNMENT, SOLUTION_STUDENT)
        answer.manual_score, answer.needs_manual_grade = 1.5, False
        gradebook.find_comment(ANSWER_CELL, ASSIGNMENT, ASSIGNMENT, SOLUTION_STUDENT).manual_comment = comment
        gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, WRONG_STUDENT).flagged = True
        gradebook.db.commit()
    feedback = out / "feedback" / SOLUTION_STUDENT / f"{ASSIGNMENT}.html"
    assert comment not in feedback.read_text(encoding="utf-8")

    result = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out)

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]  # broken-json, retried
    assert "Done: 0 graded, 1 failed, 4 skipped" in result.stdout, result.stdout[-2000:]
    assert BANNER.search(result.stdout) and "from nbgrader_config.py s" not in result.stdout
    rows = read_rows(out)
    assert set(rows) == set(before)
    for student in set(before) - {SOLUTION_STUDENT, WRONG_STUDENT}:
        assert rows[student] == before[student], student
    assert rows[RENAMED_STUDENT]["reason"] == before[RENAMED_STUDENT]["reason"] != ""
    assert rows[RENAMED_STUDENT]["status"] == "graded"
    solution = rows[SOLUTION_STUDENT]
    assert float(solution["manual_score"]) == 1.5 and float(solution[f"{ASSIGNMENT}:{ANSWER_CELL}"]) == 1.5
    assert float(solution["total_score"]) == float(before[SOLUTION_STUDENT]["auto_score"]) + 1.5
    assert solution["needs_manual_grading"] == "False"
    assert rows[WRONG_STUDENT]["flagged"] == "True" and before[WRONG_STUDENT]["flagged"] == "False"
    assert scores(rows[WRONG_STUDENT]) | {"flagged": "False"} == scores(before[WRONG_STUDENT])
    assert comment in feedback.read_text(encoding="utf-8"), "feedback regenerated with the manual grade"
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "this run: 5 submission(s): 0 graded, 1 failed, 4 skipped" in summary
    assert "grades.csv: 5 student(s), 4 graded, 1 could not be graded" in summary


@graded_test
def test_student_option_regrades_only_that_student(term):
    submissions, out = term
    before = read_rows(out)
    result = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out, "--student", RENAMED_STUDENT)
    # the renamed submission has no notebook to execute: regraded in a moment, not skipped
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]  # broken-json untouched
    assert f"Grading 1 submission(s) of {ASSIGNMENT}" in result.stdout
    assert "Done: 1 graded, 0 failed, 0 skipped" in result.stdout, result.stdout[-2000:]
    assert f"{RENAMED_STUDENT}: graded" in result.stdout
    assert read_rows(out) == before

    unknown = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out, "--student", "nobody")
    assert unknown.returncode == 2 and unknown.stderr.strip().count("\n") == 0, unknown.stderr
    assert "--student nobody: no such student folder" in unknown.stderr


@graded_test
def test_a_changed_assignment_source_is_refused_until_told(term, tmp_path, monkeypatch, capsys):
    submissions, out = term
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS_DIR / ASSIGNMENT, solutions / ASSIGNMENT)
    source = solutions / ASSIGNMENT / NOTEBOOK
    notebook = json.loads(source.read_text(encoding="utf-8"))
    test_cell = next(
        c
        for c in notebook["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "rnn-step-visible-test"
    )
    test_cell["metadata"]["nbgrader"]["points"] += 1  # "make assignments" after a points change
    source.write_text(json.dumps(notebook), encoding="utf-8")
    monkeypatch.setattr(grade_module, "SOLUTIONS_DIR", solutions)
    monkeypatch.setenv("COURSE_QUICK", "1")
    kept = {name: (out / name).read_bytes() for name in ("grades.csv", "records.json", "course/gradebook.db")}

    code = main([str(submissions), "-a", ASSIGNMENT, "-o", str(out)])

    error = capsys.readouterr().err
    assert code == 2 and error.strip().count("\n") == 0, error
    assert f"solutions/{ASSIGNMENT} changed since 4 student(s) were graded (points 9 -> 10)" in error
    assert "--regrade-changed" in error and "--force" in error
    assert {name: (out / name).read_bytes() for name in kept} == kept, "nothing written"


@graded_test
def test_ctrl_c_saves_what_is_done_and_the_same_command_resumes(term, tmp_path):
    """A subset of the class (one student, whose fixed notebook changed its checksum) graded into the
    class's folder: Ctrl-C while it runs, then the same command again."""
    _, out = term
    before = read_rows(out)
    solution = read_rows(out)[SOLUTION_STUDENT]
    fixed = tmp_path / "late" / RENAMED_STUDENT / ASSIGNMENT
    fixed.mkdir(parents=True)
    shutil.copyfile(SOLUTIONS_DIR / ASSIGNMENT / NOTEBOOK, fixed / NOTEBOOK)
    command = [sys.executable, "-m", "autograder", str(tmp_path / "late"), "-a", ASSIGNMENT, "-o", str(out)]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def kernel_started() -> bool:  # its connection file, in the runtime folder sandbox.json names
        try:
            runtime = json.loads(next(out.glob(".work/*/sandbox.json")).read_text())["runtime_dir"]
        except (StopIteration, ValueError, KeyError):
            return False
        return (Path(runtime) / "kernel.json").exists()

    deadline = time.monotonic() + 300
    while not kernel_started() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kernel_started(), "the kernel never started"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    assert (
        f"every student finished is saved; to go on, run: python -m autograder {tmp_path / 'late'}" in stderr
    )
    assert "1 not finished (interrupted)" in stdout
    assert read_rows(out) == before, "the CSV holds every student as graded before"
    assert not (out / ".work").exists()
    assert not processes_mentioning(out), "a grading process outlived the interrupt"

    resumed = run_autograder(tmp_path / "late", "-a", ASSIGNMENT, "-o", out)

    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Done: 1 graded, 0 failed, 0 skipped" in resumed.stdout, resumed.stdout[-2000:]
    rows = read_rows(out)
    assert set(rows) == set(before), "grading a subset keeps every row"
    for student in set(before) - {RENAMED_STUDENT}:
        assert rows[student] == before[student], student
    renamed = rows[RENAMED_STUDENT]
    assert renamed["reason"] == "" and cells_of(renamed) == cells_of(solution)
    assert renamed["auto_score"] == solution["auto_score"] != "0.0"
    assert (out / "feedback" / RENAMED_STUDENT / f"{ASSIGNMENT}.html").is_file()
    log = (out / "logs" / f"{RENAMED_STUDENT}.log").read_text(encoding="utf-8")
    assert "SAWarning" not in log and "Attribute 'checksum'" not in log


def processes_mentioning(path: Path, wait_s: float = 10) -> list[str]:
    """Command lines of live processes that name ``path`` (after up to ``wait_s`` to exit)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(path) in text:
                found.append(text)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# Read from the shared graded run


@graded_test
def test_logs_hold_no_warnings_that_read_like_tampering(graded):
    run = graded.assignment_class(ASSIGNMENT)
    for student in (SOLUTION_STUDENT, RELEASE_STUDENT):
        log = (run.out / "logs" / f"{student}.log").read_text(encoding="utf-8")
        assert "autograde" in log
        assert "SAWarning" not in log and "Attribute 'checksum'" not in log, student


@graded_test
def test_a_missing_timestamp_is_recorded_as_missing(graded):
    from nbgrader.api import Gradebook

    run = graded.assignment_class(ASSIGNMENT)
    assert not list((run.out / "course" / "submitted").glob(f"*/{ASSIGNMENT}/timestamp.txt"))
    with Gradebook(f"sqlite:///{run.out / 'course' / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, SOLUTION_STUDENT).timestamp is None


def feedback_score(out: Path, student: str) -> float:
    """The notebook's score as the student's feedback page gives it (late penalty taken off)."""
    page = (out / "feedback" / student / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    return float(re.search(r"\(Score: ([\d.]+) / [\d.]+\)", page)[1])


def exported_scores(out: Path) -> dict[str, float]:
    """``nbgrader export``'s score per student (raw score less the late penalty)."""
    course = out / "course"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "nbgrader", "export"]
    subprocess.run(command, cwd=course, env=env, capture_output=True, check=True, timeout=300)
    with open(course / "grades.csv", encoding="utf-8") as handle:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}


@graded_test
def test_a_late_submission_has_one_total_in_the_csv_the_export_and_the_feedback(term):
    from nbgrader.api import Gradebook

    submissions, out = term
    # Submitted 1 day 10 hours after the due date: two days or part of a day late, 10 % each.
    (submissions / SOLUTION_STUDENT / ASSIGNMENT / "timestamp.txt").write_text("2026-12-03 09:59:00 UTC")
    due = ("--due-date", "2026-12-01 23:59:00 UTC", "--late-penalty", "10%/day")

    first = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out, *due)

    assert "Done: 1 graded" in first.stdout, first.stdout[-3000:] + first.stderr[-3000:]
    assert "due 2026-12-01 23:59:00 UTC, late penalty 10%/day" in first.stdout
    rows = read_rows(out)
    raw = float(rows[SOLUTION_STUDENT]["auto_score"]) + float(rows[SOLUTION_STUDENT]["manual_score"])
    assert raw > 0 and float(rows[SOLUTION_STUDENT]["late_penalty"]) == pytest.approx(0.2 * raw)
    totals = {
        student: float(row["total_score"]) for student, row in rows.items() if row["status"] == "graded"
    }
    assert totals[SOLUTION_STUDENT] == pytest.approx(0.8 * raw)
    assert all(float(rows[s]["late_penalty"]) == 0 for s in totals if s != SOLUTION_STUDENT), (
        "no timestamp: not late"
    )
    exported = exported_scores(out)
    assert {student: exported[student] for student in totals} == pytest.approx(totals)
    assert feedback_score(out, SOLUTION_STUDENT) == pytest.approx(totals[SOLUTION_STUDENT])

    # Manual grading raises the raw score: the next run (due date and policy remembered) takes 20 % of it.
    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gradebook:
        answer = gradebook.find_grade(ANSWER_CELL, ASSIGNMENT, ASSIGNMENT, SOLUTION_STUDENT)
        answer.manual_score, answer.needs_manual_grade = 2.0, False
        gradebook.db.commit()

    second = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out)

    assert "due 2026-12-01 23:59:00 UTC, late penalty 10%/day" in second.stdout, second.stdout[-3000:]
    total = float(read_rows(out)[SOLUTION_STUDENT]["total_score"])
    assert total == pytest.approx(0.8 * (raw + 2.0))
    assert exported_scores(out)[SOLUTION_STUDENT] == pytest.approx(total)
    assert feedback_score(out, SOLUTION_STUDENT) == pytest.approx(total)


# --------------------------------------------------------------------------------------------
# Fast checks


def test_histogram_ticks_are_integers(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    rows = [{"status": "graded", "total_score": score, "max_score": 9.0} for score in (0, 7, 7, 6, 8.5)]
    save_histogram(rows, tmp_path / "histogram.png", ASSIGNMENT)
    axes = figures[0].axes[0]
    for ticks in (axes.get_xticks(), axes.get_yticks()):
        assert len(ticks) > 1 and all(float(tick).is_integer() for tick in ticks), ticks


def test_make_clean_keeps_gradebooks(tmp_path):
    shutil.copyfile(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    gradebook = tmp_path / "grading_output" / ASSIGNMENT / "course" / "gradebook.db"
    gradebook.parent.mkdir(parents=True)
    gradebook.write_bytes(b"manual grades")
    (tmp_path / "_build" / "html").mkdir(parents=True)
    env = {**os.environ, "MAKEFLAGS": ""}
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True, env=env)
    assert not (tmp_path / "_build").exists() and gradebook.read_bytes() == b"manual grades"
    subprocess.run(["make", "clean-grades"], cwd=tmp_path, check=True, capture_output=True, env=env)
    assert not (tmp_path / "grading_output").exists()
