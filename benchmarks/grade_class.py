"""Benchmark the autograder: grade a synthetic class sequentially (1 worker) and in parallel.

    .venv/bin/python benchmarks/grade_class.py [--students 50] [--workers 0] [--assignment numpy_rnn]

The class is built from the instructor solution: every third student submits a wrong ``rnn_forward``
(it ignores the initial state), every seventh the blank release, the others the solution. Both runs
use the sandbox and the default limits, write to separate temporary folders and must produce the
same grades; the script prints both wall times and the ratio (sequential / parallel).
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
WRONG_FORWARD = """

_rnn_forward_that_works = rnn_forward


def rnn_forward(inputs, W, U, b, h0=None, return_sequences=True):
    return _rnn_forward_that_works(inputs, W, U, b, None, return_sequences)
"""


def build_class(folder: Path, assignment: str, students: int) -> None:
    name = f"{assignment}.ipynb"
    solution = nbformat.read(REPO_ROOT / "solutions" / assignment / name, as_version=4)
    release = nbformat.read(REPO_ROOT / "assignments" / assignment / name, as_version=4)
    wrong = nbformat.reads(nbformat.writes(solution), as_version=4)
    forward = [c for c in wrong.cells if "def rnn_forward" in c.source]
    if forward:
        forward[0].source += WRONG_FORWARD
    for index in range(students):
        notebook = release if index % 7 == 6 else wrong if index % 3 == 2 else solution
        target = folder / f"student{index:03d}" / assignment
        target.mkdir(parents=True)
        nbformat.write(notebook, target / name)


def grade(submissions: Path, out: Path, assignment: str, workers: int) -> tuple[float, dict]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "autograder", str(submissions), "-a", assignment, "-o", str(out)]
        + ["--workers", str(workers)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"grading failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    with open(out / "grades.csv", encoding="utf-8") as handle:
        totals = {row["student_id"]: row["total_score"] for row in csv.DictReader(handle)}
    return seconds, totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0, help="parallel workers (0: one per core)")
    parser.add_argument("--assignment", default="numpy_rnn")
    args = parser.parse_args()
    workers = args.workers or len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        submissions = Path(tmp) / "class"
        build_class(submissions, args.assignment, args.students)
        print(f"{args.students} submissions of {args.assignment}; {os.cpu_count()} CPU cores", flush=True)
        sequential, grades_1 = grade(submissions, Path(tmp) / "seq", args.assignment, 1)
        print(f"sequential (1 worker):  {sequential:7.1f} s", flush=True)
        parallel, grades_n = grade(submissions, Path(tmp) / "par", args.assignment, workers)
        print(f"parallel ({workers} workers): {parallel:7.1f} s", flush=True)
    if grades_1 != grades_n:
        print("ERROR: the two runs gave different grades", file=sys.stderr)
        return 1
    print(f"ratio sequential/parallel: {sequential / parallel:.2f}  (same grades in both runs)")
    print(
        f"per submission: {sequential / args.students:.1f} s sequential, {parallel / args.students:.1f} s parallel"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
