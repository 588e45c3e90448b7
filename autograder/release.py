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

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
ASSIGNMENTS_DIR = REPO_ROOT / "assignments"
SKIPPED = {".ipynb_checkpoints", "__pycache__", "__MACOSX", ".DS_Store"}  # never part of a notebook folder


def available_assignments(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Assignment names: the folders of ``solutions/`` that hold a notebook."""
    if not solutions_dir.is_dir():
        return []
    return sorted(p.name for p in solutions_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def generate_assignment(course: Path, name: str) -> None:
    """``nbgrader generate_assignment NAME`` in a course folder that holds a copy of ``solutions/NAME``,
    run in this process (nbgrader's Python API) with the course's ``nbgrader_config.py``."""
    from autograder.student import run_nbgrader

    shutil.copyfile(REPO_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    target = course / "solutions" / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(SOLUTIONS_DIR / name, target, ignore=shutil.ignore_patterns(*SKIPPED))
    failure = run_nbgrader(
        course, "generate_assignment", course / "generate_assignment.log", assignment_id=name
    )
    if failure:
        raise RuntimeError(f"nbgrader generate_assignment {name} failed: {failure}")


def generate_releases(names: list[str] | None = None, target: Path = ASSIGNMENTS_DIR) -> list[Path]:
    """Write ``target/<name>/`` for each assignment (default: all); return the folders written."""
    names = names or available_assignments()
    unknown = sorted(set(names) - set(available_assignments()))
    if unknown:
        raise ValueError(f"not in solutions/: {', '.join(unknown)}")
    written = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        for name in names:
            generate_assignment(Path(tmp), name)
            destination = target / name
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(Path(tmp) / "assignments" / name, destination)
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
