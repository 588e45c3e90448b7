"""Grade a folder (or zip) of submissions with nbgrader: grades CSV plus per-student feedback.

    python -m autograder SUBMISSIONS --assignment numpy_rnn [--out DIR] [--force] [--workers N]
        [--cell-timeout S] [--notebook-timeout S] [--memory-limit 6G] [--max-output N] [--sandbox on|off]

SUBMISSIONS is ``<student>/<assignment>/<notebook>.ipynb`` (optionally with nbgrader's
``timestamp.txt``), either as a folder or as a zip of that folder. The grader builds its own
nbgrader course folder under ``OUT/course`` from a *copy* of ``solutions/<assignment>``, so
``solutions/`` is only ever read. N workers (default: one per core) grade students at once, each in
a private course folder with its kernel in a bubblewrap sandbox (``autograder/parallel.py``,
``autograder/sandbox.py``); this process alone writes the main gradebook, merging one student at a
time. A broken or hostile notebook is recorded with its reason and the others are graded as usual.

Writes:
    OUT/grades.csv                      one row per student: status, per-cell and total scores, reason
    OUT/feedback/<student>/<nb>.html    nbgrader feedback, hidden tests removed
    OUT/logs/<student>.log              nbgrader's output for that student
    OUT/summary.txt, score_histogram.png  end-of-run summary and histogram of total scores
    OUT/course/                         the nbgrader course (gradebook.db for the formgrader)

Exit status: 0 every submission graded, 1 some submissions could not be graded (see the CSV),
2 bad arguments (wrong path, empty folder, unknown assignment, no working sandbox),
3 the gradebook failed its integrity check after grading.
"""

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from autograder.parallel import (
    Job,
    Limits,
    Outcome,
    grade_in_worker,
    merge_submission,
    record_empty_submission,
    snapshot_gradebook,
)
from autograder.report import Progress, gradebook_problems, save_histogram, summary_text
from autograder.sandbox import bwrap_problem, format_size, parse_size

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
NBGRADER_CONFIG = REPO_ROOT / "nbgrader_config.py"
STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NBGRADER_TIMEOUT_S = 30 * 60
# Address-space cap of a grading kernel (RLIMIT_AS). TensorFlow maps far more than it touches: the
# honest numpy_rnn solution needs about 1.3 GiB of address space here (2 cores; more cores mean
# more thread stacks and malloc arenas), so the default leaves ample room while stopping runaways.
DEFAULT_MEMORY_LIMIT = "6G"


class UsageError(Exception):
    """Bad arguments: reported in one line, exit status 2."""


@dataclass
class StudentResult:
    """What happened to one student's submission."""

    student_id: str
    status: str = "pending"  # graded | error | skipped
    reasons: list[str] = field(default_factory=list)
    flagged: bool = False
    seconds: float = 0.0


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
    copy_feedback(course_dir, out, assignment, student_id)


def copy_feedback(course_dir: Path, out: Path, assignment: str, student_id: str) -> None:
    source = course_dir / "feedback" / student_id / assignment
    target = out / "feedback" / student_id
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target)


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
# Grading a class


@dataclass
class Options:
    """Everything ``grade()`` accepts besides the submissions, assignment and output folder."""

    force: bool = False
    workers: int = 0  # 0: one per CPU core
    limits: Limits = field(default_factory=Limits)
    sandbox_mode: str = "on"  # on (refuse without bwrap) | off
    keep_work: bool = False


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def decide_sandbox(mode: str) -> tuple[bool, str]:
    """(use bwrap?, a one-line note for the output and the CSV). Never degrades silently: without a
    working bwrap, ``on`` (the default) refuses to grade; only ``--sandbox off`` runs unsandboxed."""
    if mode == "off":
        return False, "OFF (--sandbox off): submissions ran UNSANDBOXED"
    problem = bwrap_problem()
    if problem is None:
        return True, "bubblewrap (no network, only the student's folder visible)"
    raise UsageError(
        f"no sandbox: {problem}; install it (make system-deps) or pass --sandbox off to grade UNSANDBOXED"
    )


def plan_student(
    student_id: str, root: Path, course_dir: Path, out: Path, assignment: str, options: Options
) -> tuple[StudentResult, Job | None]:
    """The result so far and the job to run (None: nothing to run for this student)."""
    result = StudentResult(student_id)
    if not STUDENT_ID_PATTERN.match(student_id):
        result.status = "error"
        result.reasons.append(
            f"folder name {student_id!r} is not a valid student id (letters, digits, . _ -)"
        )
        return result, None
    source = root / student_id / assignment
    if not source.is_dir():
        result.status = "error"
        result.reasons.append(f"no {assignment}/ folder in the student's submission")
        return result, None
    if (course_dir / "autograded" / student_id / assignment).exists() and not options.force:
        result.status = "skipped"
        result.reasons.append("already graded (use --force to grade again)")
        return result, None
    job = Job(
        student_id=student_id,
        source=source,
        assignment=assignment,
        course_dir=course_dir,
        work_dir=out / ".work" / student_id,
        log_path=out / "logs" / f"{student_id}.log",
        template_db=out / ".work" / "template.db",
        limits=options.limits,
    )
    return result, job


def finish_student(result: StudentResult, outcome: Outcome, job: Job, out: Path, options: Options) -> None:
    """Merge one worker's outcome into the main course (main thread only)."""
    result.status = outcome.status
    result.reasons.extend(outcome.reasons)
    result.flagged = outcome.flagged
    result.seconds = outcome.seconds
    course_dir, assignment, student = job.course_dir, job.assignment, job.student_id
    try:
        if outcome.status == "graded" and not outcome.empty:
            merge_submission(course_dir, job.work_dir, assignment, student, outcome.flagged)
            copy_feedback(course_dir, out, assignment, student)
        elif outcome.status == "graded":  # no expected notebook: every grade 0, like nbgrader does
            record_empty_submission(course_dir, assignment, student, outcome.flagged)
            submitted = course_dir / "submitted" / student / assignment
            if submitted.exists():
                shutil.rmtree(submitted)
            shutil.copytree(job.work_dir / "submitted" / student / assignment, submitted)
            (course_dir / "autograded" / student / assignment).mkdir(parents=True, exist_ok=True)
        else:  # could not be graded: keep an earlier run's grades, else record zeros
            record_empty_submission(course_dir, assignment, student, outcome.flagged, reset=False)
    except Exception as error:  # noqa: BLE001 - report, never stop the class
        result.status = "error"
        result.reasons.append(f"merging into the gradebook failed: {type(error).__name__}: {error}")
    if not options.keep_work and job.work_dir.exists():
        shutil.rmtree(job.work_dir, ignore_errors=True)


def describe(result: StudentResult) -> str:
    detail = f" ({'; '.join(result.reasons)[:400]})" if result.reasons else ""
    timing = f" {result.seconds:.1f} s" if result.seconds else ""
    return f"{result.student_id}: {result.status}{timing}{detail}"


def grade(
    submissions: Path, assignment: str, out: Path, force: bool = False, options: Options | None = None
) -> list[StudentResult]:
    """Grade every student folder under ``submissions``; write OUT/grades.csv; return the results."""
    options = options or Options()
    options.force = options.force or force
    known = available_assignments()
    if assignment not in known:
        raise UsageError(f"unknown assignment {assignment!r}: choose one of {', '.join(known) or '(none)'}")
    if not submissions.exists():
        raise UsageError(f"{submissions} does not exist")
    out = out.resolve()
    if out.is_relative_to(SOLUTIONS_DIR.resolve()):
        raise UsageError("the output folder must not be inside solutions/")
    use_sandbox, sandbox_note = decide_sandbox(options.sandbox_mode)
    options.limits.sandbox = use_sandbox
    workers = options.workers or default_workers()

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
        print(
            f"Grading {len(students)} submission(s) of {assignment} into {out} with {workers} worker(s)",
            flush=True,
        )
        if not use_sandbox:
            warning = f"WARNING: sandbox {sandbox_note}: student code can read this machine's files and use the network"
            print(f"{'!' * 100}\n{warning}\n{'!' * 100}", flush=True)
            print(warning, file=sys.stderr, flush=True)
        else:
            print(f"Sandbox: {sandbox_note}", flush=True)
        limits = options.limits
        print(
            f"Limits per notebook: cell timeout {limits.cell_timeout or 'from nbgrader_config.py'} s, "
            f"wall {limits.notebook_timeout or 'none'} s, memory {format_size(limits.memory_bytes)}, "
            f"output {limits.max_cell_output:,} chars/cell",
            flush=True,
        )
        prepare_course(course_dir, assignment)
        snapshot_gradebook(course_dir / "gradebook.db", out / ".work" / "template.db")

        results: dict[str, StudentResult] = {}
        jobs: list[tuple[StudentResult, Job]] = []
        progress = Progress(len(students))
        for student_id in students:
            result, job = plan_student(student_id, root, course_dir, out, assignment, options)
            results[student_id] = result
            if job is not None:
                jobs.append((result, job))
                continue
            if result.status == "skipped":
                write_feedback(
                    student_id, course_dir, out, assignment, result, out / "logs" / f"{student_id}.log"
                )
            progress.update(describe(result))

        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grader")
        try:
            futures = {executor.submit(grade_in_worker, job): (result, job) for result, job in jobs}
            for future in as_completed(futures):
                result, job = futures[future]
                finish_student(result, future.result(), job, out, options)
                progress.update(describe(result))
        except KeyboardInterrupt:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            executor.shutdown(wait=True)
        template = out / ".work" / "template.db"
        if template.exists():
            template.unlink()
        if not options.keep_work:
            shutil.rmtree(out / ".work", ignore_errors=True)

    ordered = [results[s] for s in students]
    header, rows = read_grades(course_dir, assignment, ordered)
    for row, result in zip(rows, ordered, strict=True):
        row["flagged"] = result.flagged
        row["sandbox"] = "bwrap" if use_sandbox else "NONE"
    header += ["flagged", "sandbox"]
    write_csv(out / "grades.csv", header, rows)
    graded_ids = [r.student_id for r in ordered if r.status in ("graded", "skipped", "error")]
    graded_ids = [s for s in graded_ids if STUDENT_ID_PATTERN.match(s) and (root_has(root, s, assignment))]
    problems = gradebook_problems(course_dir / "gradebook.db", assignment, graded_ids)
    histogram = save_histogram(rows, out / "score_histogram.png", assignment)
    summary = summary_text(rows, ordered, sandbox_note, problems, histogram)
    (out / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    print(summary)
    failed = sum(r.status == "error" for r in ordered)
    print(
        f"Done: {len(ordered) - failed} graded, {failed} failed. Grades: {out / 'grades.csv'}; "
        f"feedback: {out / 'feedback'}; gradebook for manual grading: {course_dir / 'gradebook.db'}"
    )
    if problems:
        raise GradebookError("; ".join(problems))
    return ordered


def root_has(root: Path, student_id: str, assignment: str) -> bool:
    return (root / student_id / assignment).is_dir()


class GradebookError(RuntimeError):
    """The gradebook failed its integrity check after grading (exit status 3)."""


# --------------------------------------------------------------------------------------------
# Command line


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
    parser.add_argument(
        "--workers", "-j", type=int, default=0, help="students graded at once (default: one per CPU core)"
    )
    parser.add_argument(
        "--cell-timeout", type=int, default=None, help="seconds per cell (default: nbgrader_config.py, 120)"
    )
    parser.add_argument(
        "--notebook-timeout",
        type=int,
        default=600,
        help="wall-clock seconds per notebook, 0: none (default 600)",
    )
    parser.add_argument(
        "--memory-limit",
        default=DEFAULT_MEMORY_LIMIT,
        help=f"address-space cap of each kernel, e.g. 4G; 0: none (default {DEFAULT_MEMORY_LIMIT})",
    )
    parser.add_argument(
        "--max-output",
        type=int,
        default=1_000_000,
        help="output characters kept per cell (default 1,000,000)",
    )
    parser.add_argument(
        "--stderr-fails", action="store_true", help="nbgrader's rule: a test cell writing to stderr scores 0"
    )
    parser.add_argument(
        "--sandbox",
        choices=("on", "off"),
        default="on",
        help="bubblewrap sandbox: on (default; refuse to grade if bwrap does not work here) or off "
        "(run student code UNSANDBOXED, with a warning)",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep OUT/.work (private courses) for debugging"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="run submissions in full mode (COURSE_QUICK=0); default: quick mode (COURSE_QUICK=1) unless "
        "COURSE_QUICK is set, so lab reports train on small data and grade in under a minute",
    )
    args = parser.parse_args(argv)
    if args.full:
        os.environ["COURSE_QUICK"] = "0"
    else:
        os.environ.setdefault("COURSE_QUICK", "1")
    out = args.out if args.out is not None else Path("grading_output") / args.assignment
    try:
        limits = Limits(
            cell_timeout=args.cell_timeout,
            notebook_timeout=args.notebook_timeout,
            memory_bytes=parse_size(args.memory_limit),
            max_cell_output=args.max_output,
            max_notebook_output=max(10 * args.max_output, args.max_output) if args.max_output else 0,
            stderr_fails=args.stderr_fails,
        )
    except ValueError:
        print(f"error: --memory-limit {args.memory_limit!r} is not a size like 4G or 512M", file=sys.stderr)
        return 2
    if args.workers < 0:
        print("error: --workers must be 0 (auto) or more", file=sys.stderr)
        return 2
    options = Options(
        force=args.force,
        workers=args.workers,
        limits=limits,
        sandbox_mode=args.sandbox,
        keep_work=args.keep_work,
    )
    try:
        results = grade(args.submissions, args.assignment, out, options=options)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GradebookError as error:
        print(f"error: the gradebook failed its integrity check: {error}", file=sys.stderr)
        return 3
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if any(r.status == "error" for r in results) else 0
