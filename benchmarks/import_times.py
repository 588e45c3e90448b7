"""CPU seconds that a fresh Python process of the course's environment spends importing what it needs.

    .venv/bin/python benchmarks/import_times.py [--repeat 3]

Every grading worker, every ``nbgrader`` or ``jupyter-book`` command and the grader itself start a
new process, so an import that is slow is paid many times in one test run or one class's grading.
For each module below the script starts ``--repeat`` fresh interpreters that import only that module
and prints the median CPU seconds (user + system) of the child, and whether ``rfc3987_syntax`` came
with it (``make venv`` uninstalls it: jsonschema imports it when present, and its import builds a
grammar, which made ``import nbformat`` cost about 3 s instead of 0.4 s on the 2-core machine here).
"""

import argparse
import os
import statistics
import subprocess
import sys

MODULES = [
    "nbformat",
    "nbgrader.apps",
    "keras",
    "autograder.grade",
    "rnncourse",
]
PROBE = "import importlib, sys; importlib.import_module(sys.argv[1]); print('rfc3987_syntax' in sys.modules)"


def cpu_seconds_of_import(module: str) -> tuple[float, bool]:
    """(CPU seconds of a fresh interpreter that imports ``module``, whether rfc3987_syntax was imported)."""
    before = os.times()
    result = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return cpu, result.stdout.strip() == "True"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per module (median)")
    args = parser.parse_args()
    baseline = statistics.median(cpu_seconds_of_import("os")[0] for _ in range(args.repeat))
    print(f"{'module':<20}{'CPU s':>8}{'over bare python':>18}  rfc3987_syntax imported")
    print(f"{'(bare python)':<20}{baseline:>8.2f}{0:>18.2f}")
    for module in MODULES:
        runs = [cpu_seconds_of_import(module) for _ in range(args.repeat)]
        cpu = statistics.median(seconds for seconds, _ in runs)
        print(f"{module:<20}{cpu:>8.2f}{cpu - baseline:>18.2f}  {'yes' if runs[0][1] else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
