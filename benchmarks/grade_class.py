"""Benchmark the autograder: grade a synthetic class sequentially (1 worker) and in parallel.

    .venv/bin/python benchmarks/grade_class.py [--students 50] [--workers 0] [--assignment numpy_rnn]

The class is built from the instructor solution: every third student submits a wrong ``rnn_forward``
(it ignores the initial state), every seventh the blank release, the others the solution. Both runs
use the sandbox and the default limits, write to separate temporary folders and must produce the
same grades; the script prints both wall times and the ratio (sequential / parallel), then a sizing
table for a class of 150 on 2, 8 and 32 cores computed from what it measured:

* the CPU seconds per submission of everything the grading command starts (workers, sandboxed kernels),
  which spreads over the cores (one worker per core);
* the CPU seconds per submission of the grading command's own process, which does not spread: it
  runs every test cell (the VerdictServer) and merges every student into the gradebook;
* the peak memory of the largest process it started (a kernel), which each worker may need at once.

So the wall time of N cores is about setup + 150 x max(parallel part / N, serial part).
"""

import argparse
import csv
import math
import os
import resource
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


def grade(submissions: Path, out: Path, assignment: str, workers: int) -> tuple[float, dict, dict]:
    """Wall seconds, {student: total}, and {"own": CPU s of the grading process, "children": CPU s of
    what it started, "peak_mib": peak memory of its largest child}."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    command = [sys.executable, "-m", "autograder", str(submissions), "-a", assignment, "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    own = 0.0  # the grading process's own CPU time, read from /proc until it exits
    stat = Path(f"/proc/{process.pid}/stat")
    while process.poll() is None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"grading failed (exit {process.returncode}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    everything = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    usage = {"own": own, "children": everything - own, "peak_mib": after.ru_maxrss / 1024}
    with open(out / "grades.csv", encoding="utf-8") as handle:
        totals = {row["student_id"]: row["total_score"] for row in csv.DictReader(handle)}
    return seconds, totals, usage


def sizing_table(students: int, seconds: float, usage: dict, class_size: int = 150) -> str:
    """Predicted wall time and memory of a class of ``class_size`` on 2, 8 and 32 cores (one worker per
    core), from a sequential run of ``students`` submissions."""
    parallel, serial = usage["children"] / students, usage["own"] / students
    setup = max(0.0, seconds - students * (parallel + serial))  # course set-up, Keras, reports
    lines = [
        f"measured per submission: {parallel:.1f} CPU s in workers and kernels (spread over the cores), "
        f"{serial:.1f} CPU s in the grading process (not spread); set-up {setup:.0f} s; "
        f"largest process {usage['peak_mib']:.0f} MiB",
        f"sizing, a class of {class_size} (one worker per core; memory: a kernel per worker + 1 GiB):",
        "  cores   wall (min)   bound by        memory (GiB)",
    ]
    for cores in (2, 8, 32):
        spread, serial_total = class_size * parallel / cores, class_size * serial
        wall = setup + max(spread, serial_total)
        bound = "the cores" if spread >= serial_total else "grading process"
        memory = math.ceil(cores * usage["peak_mib"] / 1024 + 1)
        lines.append(f"  {cores:5d}   {wall / 60:10.1f}   {bound:15s} {memory:12d}")
    return "\n".join(lines)


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
        sequential, grades_1, usage = grade(submissions, Path(tmp) / "seq", args.assignment, 1)
        print(f"sequential (1 worker):  {sequential:7.1f} s", flush=True)
        parallel, grades_n, _ = grade(submissions, Path(tmp) / "par", args.assignment, workers)
        print(f"parallel ({workers} workers): {parallel:7.1f} s", flush=True)
    if grades_1 != grades_n:
        print("ERROR: the two runs gave different grades", file=sys.stderr)
        return 1
    print(f"ratio sequential/parallel: {sequential / parallel:.2f}  (same grades in both runs)")
    print(
        f"per submission: {sequential / args.students:.1f} s sequential, {parallel / args.students:.1f} s parallel"
    )
    print(sizing_table(args.students, sequential, usage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
