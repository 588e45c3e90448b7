"""Adversarial submissions: grading completes, each gets the grade it deserves with a reason, honest
submissions in the same (parallel) run get exactly their solo grades, and the gradebook stays sound.

Every submission is generated here from the solution or release notebook, so none can go stale.
All of them plus two honest ones are graded in ONE run with two workers and short limits. The honest
ones are the solution and the wrong forward pass of numpy_rnn's class in ``tests/grading.py``, which
is graded sequentially (``--workers 1``) in the same test run: their grades there are the solo grades.
"""

import copy
import html
import json
import socket
import sys
from pathlib import Path

import attacks
import nbformat
import nbtools
import pytest
from grading import (
    ALL_MISTAKES,
    SOLUTION_STUDENT,
    mistake_student,
    notebook_paths,
    read_rows,
    run_autograder,
    write_submissions,
    wrong_submission,
)

from autograder import integrity
from autograder.grade import REPO_ROOT, decide_sandbox
from autograder.report import gradebook_problems
from autograder.student import work_name

ASSIGNMENT = "numpy_rnn"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION, RELEASE = notebook_paths(ASSIGNMENT)
(WRONG_FORWARD,) = ALL_MISTAKES[ASSIGNMENT]  # the honest but wrong submission
STEP_CELLS = ("rnn-step-visible-test", "rnn-step-hidden-test")
FORWARD_CELLS = (
    "rnn-forward-visible-test",
    "rnn-forward-hidden-test-zero-state",
    "rnn-forward-hidden-test-initial-state",
)
# Short limits, with room for a machine busy with other runs (the test session grades two at a time)
LIMITS = ["--workers", "2", "--cell-timeout", "30", "--notebook-timeout", "200", "--memory-limit", "3G"]


def slow_run(test):
    """A test that reads the graded run: slow, and it needs a working sandbox (make system-deps)."""
    return pytest.mark.slow(pytest.mark.needs("bwrap")(test))


# --------------------------------------------------------------------------------------------
# Building submissions


def solution():
    return nbtools.read(SOLUTION)


def wrong():
    """Honest but wrong: rnn_forward ignores h0 (loses the initial-state test only)."""
    return wrong_submission(ASSIGNMENT, WRONG_FORWARD)


def cell_with_id(notebook, grade_id):
    return next(c for c in notebook.cells if nbtools.nbgrader_meta(c).get("grade_id") == grade_id)


def append_to_forward(notebook, code):
    """Add code at the end of the rnn_forward solution cell (after the def)."""
    nbtools.find_cell(notebook, "def rnn_forward").source += "\n\n" + code
    return notebook


def extra_cell(notebook, code, after="rnn-step-hidden-test"):
    """An ordinary (ungraded) cell after ``after``."""
    index = notebook.cells.index(cell_with_id(notebook, after))
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return notebook


def snoop_targets(submissions: Path, out: Path) -> list:
    """Files of other students and of the grader that the sandboxed kernel must not read."""
    return [
        submissions / "honest-full" / ASSIGNMENT / NOTEBOOK,
        out / "course" / "gradebook.db",
        out / "course" / "solutions" / ASSIGNMENT / NOTEBOOK,
        out / "course" / "autograded" / "honest-full" / ASSIGNMENT / NOTEBOOK,
        out / ".work" / work_name("honest-full") / "submitted" / "honest-full" / ASSIGNMENT / NOTEBOOK,
        out / ".work" / work_name("snoop") / "gradebook.db",
        out / ".work" / work_name("snoop") / "solutions" / ASSIGNMENT / NOTEBOOK,
        REPO_ROOT / "solutions" / ASSIGNMENT / NOTEBOOK,
        "../../../gradebook.db",
        f"../../../solutions/{ASSIGNMENT}/{NOTEBOOK}",
        f"../../honest-full/{ASSIGNMENT}/{NOTEBOOK}",
        NOTEBOOK,  # its own notebook as nbgrader executes it, hidden tests restored: masked, unreadable
    ]


def snoop_code(submissions: Path, out: Path) -> str:
    """Try to read every snoop target and to append to the gradebook; print what was blocked."""
    targets = snoop_targets(submissions, out)
    return f"""
import os
for target in {[str(t) for t in targets]!r}:
    try:
        with open(target, "rb") as handle:
            data = handle.read()
        print("READ-OK", target, len(data))
        print(data[:3000].decode(errors="replace"))
    except OSError as error:
        print("BLOCKED", target, type(error).__name__)
try:
    with open({str(out / "course" / "gradebook.db")!r}, "ab") as handle:
        handle.write(b"x")
    print("WRITE-OK gradebook")
except OSError as error:
    print("BLOCKED write gradebook", type(error).__name__)
"""


NETWORK_CODE = """
import socket
for address in [("1.1.1.1", 53), ("127.0.0.1", {port}), ("pypi.org", 443)]:
    try:
        socket.create_connection(address, timeout=3).close()
        print("NET-OPEN", address)
    except OSError as error:
        print("NET-BLOCKED", address, type(error).__name__)
"""

NEVER_ENDS = "import time\nwhile True:\n    time.sleep(0.5)\n"
BLOAT = """
from IPython.display import display
display({"text/plain": "a small output with huge metadata"}, raw=True, metadata={"pad": "m" * 20_000_000})
raise ValueError("e" * 30_000_000)
"""


def release():
    return nbtools.read(RELEASE)


def adversarial_class(submissions: Path, out: Path, port: int) -> dict:
    """{student: notebook | bytes | None (no notebook) | (name, notebook)}."""
    deleted = wrong()
    deleted.cells.remove(cell_with_id(deleted, "rnn-forward-hidden-test-initial-state"))
    deleted.cells.remove(cell_with_id(deleted, "setup"))
    edited = wrong()
    cell_with_id(edited, "rnn-forward-hidden-test-initial-state").source = "pass"
    duplicated = wrong()
    copy_of_test = cell_with_id(duplicated, "rnn-forward-hidden-test-initial-state")
    # A second copy of a test, after the real one, reduced to `pass` (nbgrader grades the last copy).
    twin = nbformat.v4.new_code_cell("pass", metadata=copy.deepcopy(copy_of_test.metadata))
    duplicated.cells.insert(duplicated.cells.index(copy_of_test) + 1, twin)
    syntax = solution()
    nbtools.find_cell(syntax, "def rnn_forward").source += "\n\ndef broken(:\n    pass\n"
    return {
        "honest-full": solution(),
        "honest-wrong": wrong(),
        # Cells that never end. They sleep instead of spinning: the limits are on wall-clock time, so
        # spinning would change nothing but take a core from the test run's other work for 30 s each.
        "loop-interruptible": append_to_forward(solution(), NEVER_ENDS),
        "loop-unkillable": append_to_forward(
            solution(), f"import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n{NEVER_ENDS}"
        ),
        "memory-hog": append_to_forward(
            solution(),
            "def _hog():\n    blocks = []\n    while True:\n        blocks.append(np.ones(50_000_000))\n\n_hog()\n",
        ),
        "kill-exit": append_to_forward(solution(), "import os\nos._exit(1)\n"),
        "syntax-error": syntax,
        "deleted-test": deleted,
        "edited-test": edited,
        "duplicated-test": duplicated,
        "renamed": ("my_homework.ipynb", solution()),
        "omitted": None,
        "not-json": b'{"cells": [ this is not json',
        "print-100mb": extra_cell(
            solution(), 'print("x" * 100_000_000)\nfor _ in range(2000):\n    print("y" * 100)'
        ),
        "bloat": extra_cell(solution(), BLOAT),
        # tests/attacks.py, one kind at a time, in the answer cells of the blank release
        "attack-hooks": attacks.attack_notebook(release(), forger=False, leak=False),
        "attack-forger": attacks.attack_notebook(release(), hooks=False, leak=False),
        "attack-leak": attacks.attack_notebook(release(), hooks=False, forger=False),
        # reads other students' files, the solutions and the gradebook; opens sockets
        "snoop": extra_cell(solution(), snoop_code(submissions, out) + NETWORK_CODE.format(port=port)),
    }


def auto_cells(row: dict) -> dict:
    return {
        c.split(":", 1)[1]: float(row[c] or 0)
        for c in row
        if c.startswith(f"{ASSIGNMENT}:") and "answer" not in c
    }


# --------------------------------------------------------------------------------------------
# One graded run (module fixture)


def grade_adversarial(root: Path) -> dict:
    """Grade the adversarial class in ONE run with two workers and short limits."""
    listener = socket.socket()  # a local service the network case must not reach
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    submissions, out = root / "submissions", root / "out"
    students = adversarial_class(submissions, out, port)
    write_submissions(submissions, ASSIGNMENT, students)
    try:
        result = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out, *LIMITS)
    finally:
        listener.close()
    return {
        "result": result,
        "out": out,
        "students": sorted(students),
        "rows": read_rows(out),
        # every read is blocked, and so is the write to the gradebook
        "snoop_blocked": len(snoop_targets(submissions, out)) + 1,
    }


GRADING_ORDER = 0  # the longest run: started first (tests/conftest.py)


def start_grading(runs, items):
    runs.submit("adversarial", grade_adversarial)
    runs.start_classes([ASSIGNMENT])


@pytest.fixture(scope="module")
def run(graded):
    adversarial = graded.result("adversarial", grade_adversarial)
    solo = graded.assignment_class(ASSIGNMENT)  # graded sequentially, without the adversaries
    solo_rows = solo.rows
    return {
        **adversarial,
        "solo": solo.result,
        "solo_rows": {
            "honest-full": solo_rows[SOLUTION_STUDENT],
            "honest-wrong": solo_rows[mistake_student(WRONG_FORWARD)],
        },
    }


@slow_run
def test_grading_completes_with_exit_status_1_for_the_unreadable_one(run):
    result = run["result"]
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert set(run["rows"]) == set(run["students"])
    assert [s for s, r in run["rows"].items() if r["status"] == "error"] == ["not-json"]
    assert not [s for s, r in run["rows"].items() if "feedback failed" in r["reason"]]
    assert all(row["status"] == "graded" for row in run["solo_rows"].values()), run["solo"].stdout[-3000:]
    assert "Summary" in result.stdout and "gradebook check: ok" in result.stdout
    assert (run["out"] / "score_histogram.png").stat().st_size > 1000
    assert all(row["sandbox"] == "bwrap" for row in run["rows"].values())


@slow_run
def test_honest_submissions_get_exactly_their_solo_grades(run):
    for student in ("honest-full", "honest-wrong"):
        ours, solo = run["rows"][student], run["solo_rows"][student]
        assert auto_cells(ours) == auto_cells(solo), student
        assert ours["total_score"] == solo["total_score"] and ours["reason"] == solo["reason"] == ""
    full = auto_cells(run["rows"]["honest-full"])
    assert all(score > 0 for score in full.values())
    wrong_cells = auto_cells(run["rows"]["honest-wrong"])
    assert wrong_cells["rnn-forward-hidden-test-initial-state"] == 0
    assert 0 < sum(wrong_cells.values()) < sum(full.values())


@slow_run
def test_gradebook_is_sound(run):
    assert gradebook_problems(run["out"] / "course" / "gradebook.db", ASSIGNMENT, run["students"]) == []


EXPECTED = {
    # student: (expected per-cell grades: "full", "wrong", "step-only" or "zero"; words in the reason)
    "loop-interruptible": ("full", ["cell timeout (rnn-forward-solution)"]),
    "loop-unkillable": ("step-only", ["kernel killed in rnn-forward-solution", "did not respond"]),
    # The hog runs after rnn_forward is defined; the cap turns it into a MemoryError and later cells run.
    "memory-hog": ("full", ["out of memory in rnn-forward-solution"]),
    "kill-exit": ("step-only", ["kernel killed in rnn-forward-solution", "kernel died"]),
    "syntax-error": ("step-only", ["errors in the student's cells: rnn-forward-solution (SyntaxError)"]),
    "deleted-test": ("wrong", ["deleted cells restored: setup, rnn-forward-hidden-test-initial-state"]),
    "edited-test": ("wrong", ["edited locked/test cells restored: rnn-forward-hidden-test-initial-state"]),
    "duplicated-test": ("wrong", ["duplicated cells"]),
    "renamed": ("zero", [f"missing {NOTEBOOK} (found: my_homework.ipynb)"]),
    "omitted": ("zero", [f"missing {NOTEBOOK} (found: no notebook)"]),
    "print-100mb": ("full", ["output truncated"]),
    "bloat": ("full", ["errors in the student's cells", "output cut for size"]),
    "attack-hooks": ("zero", ["registers an IPython transformer", "installs an interpreter hook", "flagged"]),
    "attack-forger": ("zero", ["reads interpreter frames", "flagged for review"]),
    "attack-leak": ("zero", ["decodes hidden code", "flagged for review"]),
    "snoop": ("full", ["flagged for review"]),
}


@slow_run
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_adversarial_submission_gets_the_grade_it_deserves(run, student):
    kind, words = EXPECTED[student]
    row = run["rows"][student]
    full = auto_cells(run["rows"]["honest-full"])
    expected = {
        "full": full,
        "wrong": auto_cells(run["rows"]["honest-wrong"]),
        "step-only": {c: (s if c in STEP_CELLS else 0.0) for c, s in full.items()},
        "zero": {c: 0.0 for c in full},
    }[kind]
    assert row["status"] == "graded", row
    assert auto_cells(row) == expected, row["reason"]
    for word in words:
        assert word in row["reason"], f"{word!r} not in {row['reason']!r}"


@slow_run
def test_unreadable_notebook_is_an_error_with_a_reason(run):
    row = run["rows"]["not-json"]
    assert row["status"] == "error" and float(row["total_score"]) == 0
    assert "autograde failed" in row["reason"] and "not a readable notebook" in row["reason"]


def autograded_text(run, student) -> str:
    path = run["out"] / "course" / "autograded" / student / ASSIGNMENT / NOTEBOOK
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join(
        output.get("text", "") if isinstance(output.get("text", ""), str) else "".join(output["text"])
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


@slow_run
def test_the_sandbox_hides_other_students_solutions_and_the_gradebook(run):
    text = autograded_text(run, "snoop")
    assert sum(line.startswith("BLOCKED") for line in text.splitlines()) == run["snoop_blocked"], text
    assert "READ-OK" not in text and "WRITE-OK" not in text
    hidden = nbtools.hidden_test_lines(solution())
    assert not [line for line in hidden if line in text], "the kernel read the hidden tests"


@slow_run
def test_the_kernel_never_holds_the_hidden_tests(run):
    """The leak attack searched the kernel (input history, frames, every function's constants) and
    smuggled what it found out through its output, base64-encoded: it finds nothing."""
    text = autograded_text(run, "attack-leak")
    assert "LEAK-COUNT 0" in text, text[-2000:]
    hidden = nbtools.hidden_test_lines(solution())
    assert not [line for line in hidden if line in text + attacks.leaked_text(text)]


@slow_run
def test_the_sandbox_has_no_network(run):
    text = autograded_text(run, "snoop")
    assert text.count("NET-BLOCKED") == 3 and "NET-OPEN" not in text, text


@slow_run
def test_huge_output_is_capped(run):
    path = run["out"] / "course" / "autograded" / "print-100mb" / ASSIGNMENT / NOTEBOOK
    assert path.stat().st_size < 3_000_000
    assert "output truncated" in autograded_text(run, "print-100mb")


@slow_run
def test_tracebacks_and_metadata_are_capped_too(run):
    notebook = run["out"] / "course" / "autograded" / "bloat" / ASSIGNMENT / NOTEBOOK
    feedback = run["out"] / "feedback" / "bloat" / f"{ASSIGNMENT}.html"
    assert notebook.stat().st_size < 5_000_000 and feedback.stat().st_size < 5_000_000


@slow_run
def test_no_feedback_shows_hidden_tests(run):
    hidden = nbtools.hidden_test_lines(solution())
    pages = sorted((run["out"] / "feedback").glob(f"*/{ASSIGNMENT}.html"))
    with_notebook = {
        student
        for student, row in run["rows"].items()
        if row["status"] == "graded" and f"missing {NOTEBOOK}" not in row["reason"]
    }
    assert {page.parent.name for page in pages} == with_notebook
    for page in pages:
        text = html.unescape(page.read_text(encoding="utf-8"))
        assert "HIDDEN TESTS" not in text, page
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{page.parent.name} sees hidden tests: {leaked[:2]}"


@slow_run
def test_per_student_logs_exist(run):
    for student in run["students"]:
        if student not in ("omitted", "renamed", "not-json"):
            assert (run["out"] / "logs" / f"{student}.log").is_file(), student


# --------------------------------------------------------------------------------------------
# Fast checks (no grading run)


def test_integrity_repair_restores_deleted_and_reports_tampering():
    release, source = nbtools.read(RELEASE), solution()
    submitted = wrong()
    submitted.cells.remove(cell_with_id(submitted, "rnn-step-hidden-test"))
    cell_with_id(submitted, "rnn-step-visible-test").source = "pass"
    cell_with_id(submitted, "rnn-step-visible-test").metadata["nbgrader"]["points"] = 100
    submitted.cells.append(
        nbformat.v4.new_code_cell(
            "x = 1", metadata={"nbgrader": {"grade_id": "bonus", "grade": True, "points": 50}}
        )
    )
    repaired, report = integrity.repair(submitted, release, "numpy_rnn", source)
    ids = [nbtools.nbgrader_meta(c).get("grade_id") for c in repaired.cells]
    release_ids = [nbtools.nbgrader_meta(c).get("grade_id") for c in release.cells]
    assert [i for i in ids if i] == release_ids, "every cell back, in the release's order"
    assert report.restored == ["rnn-step-hidden-test"]
    assert report.edited == ["rnn-step-visible-test"] and report.unknown == ["bonus"]
    assert cell_with_id(repaired, "rnn-step-visible-test").metadata["nbgrader"]["points"] == 1
    twice = solution()
    test = cell_with_id(twice, "rnn-step-hidden-test")
    twice.cells.insert(twice.cells.index(test) + 1, copy.deepcopy(test))
    repaired, report = integrity.repair(twice, release, "numpy_rnn", source)
    copies = [c for c in repaired.cells if c.source == test.source]
    assert report.duplicated == ["rnn-step-hidden-test"]
    assert len(copies) == 1 and "nbgrader" in copies[0].metadata, "only the last copy is kept and graded"
    clean, clean_report = integrity.repair(solution(), release, "numpy_rnn", source)
    assert clean_report.reasons() == [] and not clean_report.tampered


def test_without_bwrap_grading_is_refused_unless_explicitly_unsandboxed(monkeypatch):
    import autograder.grade as grade_module

    monkeypatch.setattr(grade_module, "bwrap_problem", lambda: "bwrap is not installed")
    with pytest.raises(grade_module.UsageError, match="--sandbox off"):
        decide_sandbox("on")
    use, note = decide_sandbox("off")
    assert not use and "UNSANDBOXED" in note


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
