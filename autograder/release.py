"""Regenerate the student releases in ``assignments/`` from the instructor sources in ``solutions/``.

    python -m autograder.release [ASSIGNMENT ...]      (or: make assignments)

nbgrader runs in a temporary course folder holding a copy of ``nbgrader_config.py`` and
``solutions/``, so no gradebook or other state is left in the repository. ``assignments/`` is
generated output: edit ``solutions/`` and run this instead of editing it.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from autograder.grade import (
    NBGRADER_CONFIG,
    REPO_ROOT,
    SOLUTIONS_DIR,
    available_assignments,
    last_error_line,
    run_nbgrader,
)

ASSIGNMENTS_DIR = REPO_ROOT / "assignments"


def generate_releases(names: list[str] | None = None, target: Path = ASSIGNMENTS_DIR) -> list[Path]:
    """Write ``target/<name>/`` for each assignment (default: all); return the folders written."""
    names = names or available_assignments()
    unknown = sorted(set(names) - set(available_assignments()))
    if unknown:
        raise ValueError(f"not in solutions/: {', '.join(unknown)}")
    written = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        course = Path(tmp)
        shutil.copyfile(NBGRADER_CONFIG, course / "nbgrader_config.py")
        for name in names:
            shutil.copytree(
                SOLUTIONS_DIR / name,
                course / "solutions" / name,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
            code, output = run_nbgrader(["generate_assignment", name, "--force"], course)
            if code != 0:
                raise RuntimeError(f"nbgrader generate_assignment {name} failed: {last_error_line(output)}")
            destination = target / name
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(course / "assignments" / name, destination)
            written.append(destination)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.release", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments to regenerate (default: all)")
    args = parser.parse_args(argv)
    try:
        for folder in generate_releases(args.names):
            print(f"wrote {folder.relative_to(REPO_ROOT)}")
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
