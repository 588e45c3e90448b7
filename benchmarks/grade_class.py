"""Benchmark the autograder: grade a synthetic class sequentially (1 worker) and in parallel, and size a class.

    .venv/bin/python benchmarks/grade_class.py [--students 8] [--workers 0] [--assignment numpy_rnn] [--cluster]

The class is built from the instructor solution: every third student submits a wrong ``rnn_forward``
(it ignores the initial state), every seventh the blank release, the others the solution. Three runs,
each with the sandbox and the default limits in a temporary folder: half the class sequentially, the
whole class sequentially, the whole class in parallel (one worker per core). The two runs of the
whole class must give the same grades. From the two sequential runs (the difference is what the
extra students cost, without the one-time set-up such as loading Keras) the script measures:

* the CPU seconds per submission of the grading command's own process, which runs every test cell
  (the VerdictServer) and merges every student into the gradebook: it does not spread over cores;
* the CPU seconds per submission of everything it starts (workers, sandboxed kernels): it does;
* the set-up time; and, from the parallel run, the memory of the grading process and of each worker
  with its kernel.

Its model of the wall time on N cores, set-up + S x max(all CPU per submission / N, the grading
process's per submission), is checked against the parallel run, then used for a class of 150 on 2, 8
and 32 cores.
"""

import argparse
import csv
import math
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


def process_table() -> dict[int, tuple[int, float, int, str]]:
    """{pid: (parent pid, CPU seconds so far, resident MiB, start time)} of every process, from /proc."""
    table, tick, page_mib = {}, os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE") / 2**20
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        table[int(stat.parent.name)] = (int(fields[1]), cpu, int(int(fields[21]) * page_mib), fields[19])
    return table


def grade(
    submissions: Path, out: Path, assignment: str, workers: int, *extra: str
) -> tuple[float, dict, dict]:
    """Wall seconds, {student: total}, and {"own": CPU s of the grading process, "children": CPU s of
    every process it started (workers, sandboxes, kernels), "own_mib": the grading process's largest
    resident memory, "tree_mib": the largest resident memory of them all together}, sampled
    from /proc every 0.2 s (a process's last 0.2 s may be missed)."""
    started = time.monotonic()
    command = [sys.executable, "-m", "autograder", str(submissions), "-a", assignment, "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers), *extra],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cpu, own_mib, tree_mib = {}, 0, 0  # cpu: {(pid, start time): CPU seconds at the last sample}
    while process.poll() is None:
        table = process_table()
        tree = {process.pid}
        grew = True
        while grew:
            found = {pid for pid, (parent, *_) in table.items() if parent in tree} - tree
            grew, tree = bool(found), tree | found
        for pid in tree & table.keys():
            cpu[(pid, table[pid][3])] = table[pid][1]
        own_mib = max(own_mib, table.get(process.pid, (0, 0, 0))[2])
        tree_mib = max(tree_mib, sum(table[pid][2] for pid in tree & table.keys()))
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"grading failed (exit {process.returncode}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    own = sum(value for (pid, _), value in cpu.items() if pid == process.pid)
    usage = {"own": own, "children": sum(cpu.values()) - own, "own_mib": own_mib, "tree_mib": tree_mib}
    with open(out / "grades.csv", encoding="utf-8") as handle:
        totals = {row["student_id"]: row["total_score"] for row in csv.DictReader(handle)}
    return seconds, totals, usage


def marginal(small: tuple, large: tuple, parallel: dict, workers: int) -> dict:
    """Per-submission CPU and the set-up wall time from two sequential runs (students, wall, usage);
    the memory of the grading process and of each worker (its kernel included) from the parallel run."""
    (n_s, wall_s, usage_s), (n_l, wall_l, usage_l) = small, large
    own = (usage_l["own"] - usage_s["own"]) / (n_l - n_s)
    children = (usage_l["children"] - usage_s["children"]) / (n_l - n_s)
    setup = max(0.0, wall_l - (wall_l - wall_s) / (n_l - n_s) * n_l)
    per_worker = (parallel["tree_mib"] - parallel["own_mib"]) / workers
    return {
        "own": own,
        "children": children,
        "setup": setup,
        "own_mib": parallel["own_mib"],
        "worker_mib": per_worker,
    }


def predicted_wall(cost: dict, students: int, cores: int) -> tuple[float, str]:
    spread = students * (cost["own"] + cost["children"]) / cores
    serial = students * cost["own"]
    return cost["setup"] + max(spread, serial), "the cores" if spread >= serial else "grading process"


def sizing_table(cost: dict, class_size: int = 150) -> str:
    """Predicted wall time and memory of a class of ``class_size`` on 2, 8 and 32 cores."""
    lines = [
        f"measured per submission: {cost['children']:.1f} CPU s in workers and kernels, {cost['own']:.1f} CPU s "
        f"in the grading process (does not spread over cores); set-up {cost['setup']:.0f} s; memory "
        f"{cost['own_mib']:.0f} MiB for the grading process + {cost['worker_mib']:.0f} MiB per worker and its kernel",
        f"sizing, a class of {class_size} (one worker per core):",
        "  cores   wall (min)   bound by        memory (GiB)",
    ]
    for cores in (2, 8, 32):
        wall, bound = predicted_wall(cost, class_size, cores)
        memory = math.ceil((cost["own_mib"] + cores * cost["worker_mib"]) / 1024)
        lines.append(f"  {cores:5d}   {wall / 60:10.1f}   {bound:15s} {memory:12d}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8, help="the whole class (half is graded first)")
    parser.add_argument("--workers", type=int, default=0, help="parallel workers (0: one per core)")
    parser.add_argument("--assignment", default="numpy_rnn")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also grade the class on a loopback Dask cluster of as many workers, and print its overhead",
    )
    args = parser.parse_args()
    workers = args.workers or len(os.sched_getaffinity(0))
    half = args.students // 2
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        whole, first = Path(tmp) / "class", Path(tmp) / "half"
        build_class(whole, args.assignment, args.students)
        build_class(first, args.assignment, half)
        print(f"{args.students} submissions of {args.assignment}; {os.cpu_count()} CPU cores", flush=True)
        small, _, usage_small = grade(first, Path(tmp) / "half-seq", args.assignment, 1)
        print(f"sequential, {half} students:  {small:7.1f} s", flush=True)
        sequential, grades_1, usage = grade(whole, Path(tmp) / "seq", args.assignment, 1)
        print(f"sequential, {args.students} students: {sequential:7.1f} s", flush=True)
        parallel, grades_n, usage_parallel = grade(whole, Path(tmp) / "par", args.assignment, workers)
        print(f"parallel ({workers} workers), {args.students} students: {parallel:7.1f} s", flush=True)
        if args.cluster:
            from autograder.cluster import LoopbackCluster

            loopback = LoopbackCluster(Path(tmp) / "cluster", workers)
            try:
                on_cluster, grades_c, _ = grade(
                    whole, Path(tmp) / "cl", args.assignment, 1, "--cluster", loopback.address
                )
            finally:
                loopback.close()
            print(
                f"loopback cluster ({workers} workers), {args.students} students: {on_cluster:7.1f} s",
                flush=True,
            )
            if grades_c != grades_n:
                print("ERROR: the cluster gave other grades than the local run", file=sys.stderr)
                return 1
            tasks_per_worker = args.students / workers
            print(
                f"the cluster adds {(on_cluster - parallel) / tasks_per_worker:.1f} s per task "
                f"(its wall time less the local run's, over {tasks_per_worker:g} tasks per worker; same grades)"
            )
    if grades_1 != grades_n:
        print("ERROR: the two runs gave different grades", file=sys.stderr)
        return 1
    print(f"ratio sequential/parallel: {sequential / parallel:.2f}  (same grades in both runs)")
    per = args.students
    print(f"per submission: {sequential / per:.1f} s sequential, {parallel / per:.1f} s parallel")
    cost = marginal((half, small, usage_small), (args.students, sequential, usage), usage_parallel, workers)
    model, _ = predicted_wall(cost, args.students, workers)
    print(f"the model predicts {model:.1f} s for the parallel run (measured {parallel:.1f} s)")
    print(sizing_table(cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
