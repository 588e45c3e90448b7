"""Grade a folder (or zip) of submissions with nbgrader: grades CSV plus per-student feedback.

    python -m autograder SUBMISSIONS --assignment numpy_rnn [--out grading_output] [--force]

SUBMISSIONS is ``<student>/<assignment>/<notebook>.ipynb`` (optionally with nbgrader's
``timestamp.txt``), either as a folder or as a zip of that folder. The grader builds its own
nbgrader course folder under ``OUT/course`` from a *copy* of ``solutions/<assignment>``, so
``solutions/`` is only ever read. Each student is autograded in its own nbgrader process: a broken
notebook is recorded with its reason and the others are graded as usual.

Writes:
    OUT/grades.csv                      one row per student: status, per-cell and total scores, reason
    OUT/feedback/<student>/<nb>.html    nbgrader feedback, hidden tests removed
    OUT/logs/<student>.log              nbgrader's output for that student
    OUT/course/                         the nbgrader course (gradebook.db for the formgrader)

Exit status: 0 every submission graded, 1 some submissions could not be graded (see the CSV),
2 bad arguments (wrong path, empty folder, unknown assignment).
"""

import argparse
import csv
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
NBGRADER_CONFIG = REPO_ROOT / "nbgrader_config.py"
STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NBGRADER_TIMEOUT_S = 30 * 60


class UsageError(Exception):
    """Bad arguments: reported in one line, exit status 2."""


@dataclass
class StudentResult:
    """What happened to one student's submission."""

    student_id: str
    status: str = "pending"  # graded | error | skipped
    reasons: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Finding submissions


def available_assignments(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Assignment names: the folders of ``solutions/`` that hold a notebook."""
    if not solutions_dir.is_dir():
        return []
    return sorted(p.name for p in solutions_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def extract_zip(zip_path: Path, target: Path) -> Path:
    """Unpack a zip of submissions into ``target``, refusing paths that escape it."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                name = member.filename
                if name.startswith("__MACOSX/") or name.endswith(".DS_Store"):
                    continue
                destination = (target / name).resolve()
                if not destination.is_relative_to(target.resolve()):
                    raise UsageError(f"{zip_path}: refusing entry {name!r} that points outside the archive")
                archive.extract(member, target)
    except zipfile.BadZipFile as error:
        raise UsageError(f"{zip_path} is not a readable zip file ({error})") from None
    return target


def find_submission_root(folder: Path, assignment: str) -> Path:
    """The folder whose children are student folders (descending through one wrapping folder)."""

    def has_students(path: Path) -> bool:
        return any((child / assignment).is_dir() for child in path.iterdir() if child.is_dir())

    if has_students(folder):
        return folder
    children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and has_students(children[0]):
        return children[0]
    return folder


def discover_students(root: Path) -> list[str]:
    """Student folders under ``root`` (hidden folders ignored), sorted."""
    return sorted(
        child.name
        for child in root.iterdir()
        if child.is_dir() and not child.name.startswith((".", "__MACOSX"))
    )


# --------------------------------------------------------------------------------------------
# Running nbgrader


def put_environment_on_path() -> None:
    """Put this Python's scripts folder first on PATH: nbgrader runs ``alembic`` from PATH
    whenever it opens a gradebook, which fails when the virtual environment is not activated."""
    scripts = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def run_nbgrader(args: list[str], course_dir: Path, log_path: Path | None = None) -> tuple[int, str]:
    """Run ``nbgrader ARGS`` in ``course_dir``; return (exit code, combined output)."""
    put_environment_on_path()
    command = [sys.executable, "-m", "nbgrader", *args]
    try:
        completed = subprocess.run(
            command,
            cwd=course_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NBGRADER_TIMEOUT_S,
        )
        code, output = completed.returncode, completed.stdout + completed.stderr
    except subprocess.TimeoutExpired as error:
        code = 124
        output = f"{error.stdout or ''}{error.stderr or ''}\nnbgrader timed out after {NBGRADER_TIMEOUT_S} s"
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"$ nbgrader {' '.join(args)}\n{output}\n[exit {code}]\n\n")
    return code, output


def last_error_line(output: str) -> str:
    """The most telling line of nbgrader's output for a failure."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "Exception" in line:
            return line[:300]
    return lines[-1][:300] if lines else "nbgrader failed without output"


def prepare_course(course_dir: Path, assignment: str) -> None:
    """Create (or reuse) the grading course folder and register the assignment from a copy."""
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(NBGRADER_CONFIG, course_dir / "nbgrader_config.py")
    source_copy = course_dir / "solutions" / assignment
    if source_copy.exists():
        shutil.rmtree(source_copy)
    shutil.copytree(
        SOLUTIONS_DIR / assignment, source_copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    code, output = run_nbgrader(
        ["generate_assignment", assignment, "--force"], course_dir, course_dir / "generate_assignment.log"
    )
    if code != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed: {last_error_line(output)}")


def expected_notebooks(course_dir: Path, assignment: str) -> list[str]:
    return sorted(p.name for p in (course_dir / "solutions" / assignment).glob("*.ipynb"))


def copy_submission(source: Path, target: Path) -> None:
    """Copy one student's assignment folder, adding nbgrader's timestamp.txt if it has none."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "__MACOSX")
    )
    stamp = target / "timestamp.txt"
    if not stamp.exists():
        now = datetime.datetime.now(datetime.UTC)
        stamp.write_text(now.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))


def grade_student(
    student_id: str, submissions: Path, course_dir: Path, out: Path, assignment: str, force: bool
) -> StudentResult:
    """Autograde one student and write their feedback; never raises for a bad submission."""
    result = StudentResult(student_id)
    log_path = out / "logs" / f"{student_id}.log"
    if not STUDENT_ID_PATTERN.match(student_id):
        result.status = "error"
        result.reasons.append(
            f"folder name {student_id!r} is not a valid student id (letters, digits, . _ -)"
        )
        return result
    source = submissions / student_id / assignment
    if not source.is_dir():
        result.status = "error"
        result.reasons.append(f"no {assignment}/ folder in the student's submission")
        return result
    graded = course_dir / "autograded" / student_id / assignment
    if graded.exists() and not force:
        result.status = "skipped"
        result.reasons.append("already graded (use --force to grade again)")
        write_feedback(student_id, course_dir, out, assignment, result, log_path)
        return result
    if log_path.exists():
        log_path.unlink()

    submitted = {p.name for p in source.glob("*.ipynb")}
    expected = expected_notebooks(course_dir, assignment)
    for name in expected:
        if name not in submitted:
            found = ", ".join(sorted(submitted)) or "no notebook"
            result.reasons.append(f"missing {name} (found: {found}); scored 0")
    copy_submission(source, course_dir / "submitted" / student_id / assignment)
    if not submitted & set(expected):
        # nbgrader refuses a submission without any expected notebook ("No notebooks found");
        # record it in the gradebook as nbgrader records a missing notebook: every grade 0.
        record_empty_submission(course_dir, assignment, student_id)
        (course_dir / "autograded" / student_id / assignment).mkdir(parents=True, exist_ok=True)
        result.status = "graded"
        return result

    code, output = run_nbgrader(
        ["autograde", assignment, "--student", student_id, "--create", "--force"], course_dir, log_path
    )
    if code != 0:
        result.status = "error"
        result.reasons.append(f"autograde failed: {last_error_line(output)}")
        return result
    result.status = "graded"
    write_feedback(student_id, course_dir, out, assignment, result, log_path)
    return result


def record_empty_submission(course_dir: Path, assignment: str, student_id: str) -> None:
    """Create the student's submission in the gradebook with every grade set to 0."""
    from nbgrader.api import Gradebook, MissingEntry

    put_environment_on_path()
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student(student_id)
        try:
            submission = gradebook.find_submission(assignment, student_id)
        except MissingEntry:
            submission = gradebook.add_submission(assignment, student_id)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = False
        gradebook.db.commit()


def write_feedback(
    student_id: str, course_dir: Path, out: Path, assignment: str, result: StudentResult, log_path: Path
) -> None:
    """(Re)generate the student's feedback from the gradebook, manual grades included; copy it to OUT."""
    if not any((course_dir / "autograded" / student_id / assignment).glob("*.ipynb")):
        return  # nothing was executed (no expected notebook): the CSV's reason says why
    code, output = run_nbgrader(
        ["generate_feedback", assignment, "--student", student_id, "--force"], course_dir, log_path
    )
    if code != 0:
        result.reasons.append(f"feedback failed: {last_error_line(output)}")
        return
    feedback_target = out / "feedback" / student_id
    if feedback_target.exists():
        shutil.rmtree(feedback_target)
    shutil.copytree(course_dir / "feedback" / student_id / assignment, feedback_target)


# --------------------------------------------------------------------------------------------
# Reading grades back


def read_grades(
    course_dir: Path, assignment: str, results: list[StudentResult]
) -> tuple[list[str], list[dict]]:
    """Per-student rows read from the gradebook: per-cell scores, auto/manual/total sums."""
    from nbgrader.api import Gradebook, MissingEntry

    put_environment_on_path()
    db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        master = gradebook.find_assignment(assignment)
        cells = [(nb.name, cell) for nb in master.notebooks for cell in nb.grade_cells]
        cell_columns = [f"{nb}:{cell.name}" for nb, cell in cells]
        auto_max = sum(cell.max_score for _, cell in cells if cell.cell_type == "code")
        manual_max = sum(cell.max_score for _, cell in cells if cell.cell_type != "code")
        rows = []
        for result in results:
            row = {"student_id": result.student_id, "status": result.status}
            row.update({column: "" for column in cell_columns})
            auto_score = manual_score = 0.0
            needs_manual = False
            try:
                submission = gradebook.find_submission(assignment, result.student_id)
            except MissingEntry:
                submission = None
            if submission is not None and result.status in ("graded", "skipped"):
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        row[f"{notebook.name}:{grade.name}"] = grade.score
                        if grade.cell_type == "code":
                            auto_score += grade.score
                        elif grade.manual_score is not None:
                            manual_score += grade.score
                        needs_manual = needs_manual or bool(grade.needs_manual_grade)
            row.update(
                auto_score=auto_score,
                auto_max=auto_max,
                manual_score=manual_score,
                manual_max=manual_max,
                total_score=auto_score + manual_score,
                max_score=auto_max + manual_max,
                needs_manual_grading=needs_manual,
                reason="; ".join(result.reasons),
            )
            rows.append(row)
    header = [
        "student_id",
        "status",
        *cell_columns,
        "auto_score",
        "auto_max",
        "manual_score",
        "manual_max",
        "total_score",
        "max_score",
        "needs_manual_grading",
        "reason",
    ]
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    partial = path.with_suffix(".csv.partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


# --------------------------------------------------------------------------------------------
# Command line


def grade(submissions: Path, assignment: str, out: Path, force: bool = False) -> list[StudentResult]:
    """Grade every student folder under ``submissions``; write OUT/grades.csv; return the results."""
    known = available_assignments()
    if assignment not in known:
        raise UsageError(f"unknown assignment {assignment!r}: choose one of {', '.join(known) or '(none)'}")
    if not submissions.exists():
        raise UsageError(f"{submissions} does not exist")
    out = out.resolve()
    if out.is_relative_to(SOLUTIONS_DIR.resolve()):
        raise UsageError("the output folder must not be inside solutions/")

    with tempfile.TemporaryDirectory(prefix="autograder-unzip-") as unzip_dir:
        if submissions.is_file():
            if not zipfile.is_zipfile(submissions):
                raise UsageError(f"{submissions} is neither a folder nor a zip file")
            folder = extract_zip(submissions, Path(unzip_dir))
        else:
            folder = submissions
        root = find_submission_root(folder, assignment)
        students = discover_students(root)
        if not students:
            raise UsageError(
                f"no submissions in {submissions}: expected <student>/{assignment}/<notebook>.ipynb"
            )

        course_dir = out / "course"
        print(f"Grading {len(students)} submission(s) of {assignment} into {out}", flush=True)
        prepare_course(course_dir, assignment)
        results = []
        for index, student_id in enumerate(students, start=1):
            result = grade_student(student_id, root, course_dir, out, assignment, force)
            results.append(result)
            detail = f" ({'; '.join(result.reasons)})" if result.reasons else ""
            print(f"[{index}/{len(students)}] {student_id}: {result.status}{detail}", flush=True)

    header, rows = read_grades(course_dir, assignment, results)
    write_csv(out / "grades.csv", header, rows)
    failed = sum(r.status == "error" for r in results)
    print(
        f"Done: {len(results) - failed} graded, {failed} failed. Grades: {out / 'grades.csv'}; "
        f"feedback: {out / 'feedback'}; gradebook for manual grading: {course_dir / 'gradebook.db'}"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Autograde a folder or zip of nbgrader submissions into grades.csv and feedback.",
    )
    parser.add_argument("submissions", type=Path, help="folder or zip of <student>/<assignment>/<nb>.ipynb")
    parser.add_argument("--assignment", "-a", required=True, help="assignment name (a folder of solutions/)")
    parser.add_argument(
        "--out", "-o", type=Path, default=None, help="output folder (default: grading_output/<assignment>)"
    )
    parser.add_argument("--force", action="store_true", help="grade again students already graded in OUT")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else Path("grading_output") / args.assignment
    try:
        results = grade(args.submissions, args.assignment, out, force=args.force)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if any(r.status == "error" for r in results) else 0
