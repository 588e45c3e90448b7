"""Grade a folder (or zip) of submissions with nbgrader: grades CSV plus per-student feedback.

    python -m autograder SUBMISSIONS --assignment numpy_rnn [--out DIR] [--student ID ...] [--force]
        [--regrade-changed] [--workers N] [--cell-timeout S] [--notebook-timeout S] [--memory-limit 6G]
        [--max-output N] [--sandbox on|off]

SUBMISSIONS is ``<student>/<assignment>/<notebook>.ipynb`` (optionally with nbgrader's
``timestamp.txt``), either as a folder or as a zip of that folder. The grader builds its own
nbgrader course folder under ``OUT/course`` from a *copy* of ``solutions/<assignment>``, so
``solutions/`` is only ever read. N workers (default: one per core) grade students at once, each in
a private course folder with its kernel in a bubblewrap sandbox (``autograder/student.py``,
``autograder/sandbox.py``); this process alone writes the main gradebook, merging one student at a
time. A broken or hostile notebook is recorded with its reason and the others are graded as usual.

Writes:
    OUT/grades.csv                      one row per student: status, per-cell and total scores, reason
    OUT/feedback/<student>/<nb>.html    nbgrader feedback, hidden tests removed
    OUT/logs/<student>.log              nbgrader's output for that student
    OUT/summary.txt, score_histogram.png  end-of-run summary and histogram of total scores
    OUT/course/                         the nbgrader course (gradebook.db for the formgrader)
    OUT/records.json                    per student: last status, reasons, flag, checksums graded

A rerun grades only new or changed submissions (``--student``: those students; ``--force``: all);
every output covers every student ever graded in OUT.

Exit status: 0 every submission graded, 1 some submissions could not be graded (see the CSV),
2 bad arguments (wrong path, empty folder, unknown assignment, no working sandbox),
3 the gradebook failed its integrity check after grading, 130 interrupted (Ctrl-C).
"""

import argparse
import csv
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import zipfile
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from autograder import cluster, outside, sanitize
from autograder.gradebook import (
    LATE_POLICY,
    apply_late_penalties,
    merge_submission,
    record_empty_submission,
    set_due_date,
    snapshot_gradebook,
)
from autograder.release import REPO_ROOT, SKIPPED, SOLUTIONS_DIR, available_assignments, generate_assignment
from autograder.report import Progress, gradebook_problems, save_histogram, summary_text
from autograder.sandbox import bwrap_problem, format_size, parse_size
from autograder.student import (
    Job,
    Limits,
    Outcome,
    ask_worker,
    close_workers,
    grade_in_worker,
    put_environment_on_path,
    stop_workers,
    work_name,
)

NBGRADER_CONFIG = REPO_ROOT / "nbgrader_config.py"
# Letters and digits of any script, _ . @ + - and inner spaces: no leading dot or dash (hidden files,
# options), none of / * ? [ ] < > & " ' (paths, nbgrader's glob of the id, HTML pages).
STUDENT_ID_PATTERN = re.compile(r"\w([\w.@+ -]*[\w.@+-])?")
MAX_ID_BYTES = 251  # a file name holds 255 bytes: logs/<id>.log must fit
# Address-space cap of a grading kernel (RLIMIT_AS). TensorFlow maps far more than it touches: the
# honest numpy_rnn solution needs about 1.3 GiB of address space here (2 cores; more cores mean
# more thread stacks and malloc arenas), so the default leaves ample room while stopping runaways.
DEFAULT_MEMORY_LIMIT = "6G"
RECORDS_FILE = "records.json"
GRADES_DIGEST = "grades_digest"  # a row's key (not a CSV column): what the feedback was made from


class UsageError(Exception):
    """Bad arguments: reported in one line, exit status 2."""


@dataclass
class StudentResult:
    """What happened to one student's submission."""

    student_id: str
    status: str = "pending"  # graded | error | skipped (unchanged since graded)
    reasons: list[str] = field(default_factory=list)
    flagged: bool = False
    seconds: float = 0.0
    submission: str = ""  # digest of the submitted files


# --------------------------------------------------------------------------------------------
# Finding submissions


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


def write_feedback(student_id: str, course_dir: Path, out: Path, assignment: str) -> str | None:
    """(Re)generate the student's feedback from the gradebook, manual grades included (in a worker
    process), and copy it to OUT; return why it failed, or None."""
    log = out / "logs" / f"{student_id}.log"
    request = {"op": "feedback", "course": str(course_dir), "assignment": assignment, "student": student_id}
    reply = ask_worker({**request, "log": str(log)}, 600, out / "logs" / ".workers.log")
    if reply is None or reply["failure"]:
        return reply["failure"] if reply else "feedback failed: the grading process died or ran past 600 s"
    return "; ".join(copy_feedback(course_dir, out, assignment, student_id)) or None


def copy_feedback(course_dir: Path, out: Path, assignment: str, student_id: str) -> list[str]:
    """Copy the student's feedback to OUT, regular files only; return what was left out."""
    source = course_dir / "feedback" / student_id / assignment
    target = out / "feedback" / student_id
    if target.exists():
        shutil.rmtree(target)
    left_out = sanitize.copy_regular_files(source, target) if source.is_dir() else []
    return [f"feedback: left out {', '.join(left_out)}"] if left_out else []


# --------------------------------------------------------------------------------------------
# The record of every student graded in OUT (OUT/records.json, written by this process only)


def tree_digest(folder: Path) -> str:
    """sha256 of a folder's files (relative paths and contents), checkpoints and caches left out."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not path.is_symlink() and not SKIPPED & set(relative.parts):
            try:
                content = path.read_bytes()
            except OSError as error:
                content = str(error).encode()
            digest.update(f"{relative.as_posix()}\0".encode() + content + b"\0")
    return digest.hexdigest()


def source_points(assignment: str) -> float:
    """Points of the assignment as its source notebooks give them (graded and task cells)."""
    points = 0.0
    for path in (SOLUTIONS_DIR / assignment).glob("*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") or meta.get("task"):
                points += float(meta.get("points", 0))
    return points


def load_records(out: Path) -> dict:
    """``{"students": {id: record}, "points": {source digest: points}}``; a record holds the student's
    last status, reasons and flag, the digests of the submission and source graded, and of the grades
    the feedback was generated from."""
    path = out / RECORDS_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"students": {}, "points": {}}


def save_records(out: Path, records: dict) -> None:
    partial = out / f"{RECORDS_FILE}.partial"
    partial.write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(partial, out / RECORDS_FILE)


def check_source(records: dict, source: str, points: float, assignment: str, options: "Options") -> None:
    """Refuse to mix grades of two versions of the assignment unless told how (``--force`` regrades
    everyone, ``--regrade-changed`` those graded against another version)."""
    stale = [r for r in records["students"].values() if r["status"] == "graded" and r["source"] != source]
    if stale and not (options.force or options.regrade_changed):
        before = records["points"].get(stale[0]["source"], float("nan"))
        raise UsageError(
            f"solutions/{assignment} changed since {len(stale)} student(s) were graded (points {before:g} -> "
            f"{points:g}): pass --regrade-changed to regrade them, or --force to regrade everyone"
        )


# --------------------------------------------------------------------------------------------
# Reading grades back


def read_grades(course_dir: Path, assignment: str, students: dict) -> tuple[list[str], list[dict]]:
    """One row per student in ``students`` (id: record) or in the gradebook: per-cell scores,
    auto/manual/total sums, the record's status and reasons, the gradebook's flags."""
    from nbgrader.api import Gradebook, MissingEntry

    put_environment_on_path()
    db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        master = gradebook.find_assignment(assignment)
        cells = [(nb.name, cell) for nb in master.notebooks for cell in nb.grade_cells]
        cell_columns = [f"{nb}:{cell.name}" for nb, cell in cells]
        auto_max = sum(cell.max_score for _, cell in cells if cell.cell_type == "code")
        manual_max = sum(cell.max_score for _, cell in cells if cell.cell_type != "code")
        in_gradebook = {s.student.id for s in gradebook.assignment_submissions(assignment)}
        rows = []
        for student_id in sorted(set(students) | in_gradebook):
            record = students.get(student_id, {"status": "graded", "reasons": [], "flagged": False})
            row = {"student_id": student_id, "status": record["status"]}
            row.update({column: "" for column in cell_columns})
            auto_score = manual_score = penalty = 0.0
            needs_manual, flagged, graded_cells = False, record["flagged"], []
            try:
                submission = gradebook.find_submission(assignment, student_id)
            except MissingEntry:
                submission = None
            if submission is not None and record["status"] == "graded":
                flagged = any(notebook.flagged for notebook in submission.notebooks)
                penalty = submission.late_submission_penalty
                graded_cells.append(("late penalty", penalty))
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        row[f"{notebook.name}:{grade.name}"] = grade.score
                        if grade.cell_type == "code":
                            auto_score += grade.score
                        elif grade.manual_score is not None:
                            manual_score += grade.score
                        needs_manual = needs_manual or bool(grade.needs_manual_grade)
                    graded_cells += [(g.name, g.score, g.needs_manual_grade) for g in notebook.grades]
                    graded_cells += [(c.name, c.comment) for c in notebook.comments]
            row.update(
                auto_score=auto_score,
                auto_max=auto_max,
                manual_score=manual_score,
                manual_max=manual_max,
                late_penalty=penalty,
                total_score=auto_score + manual_score - penalty,
                max_score=auto_max + manual_max,
                needs_manual_grading=needs_manual,
                reason="; ".join(record["reasons"]),
                flagged=flagged,
                sandbox=record.get("sandbox", ""),
            )
            # what the feedback shows: regenerated when this changes
            row[GRADES_DIGEST] = hashlib.sha256(repr(graded_cells).encode()).hexdigest()
            rows.append(row)
    header = [
        "student_id",
        "status",
        *cell_columns,
        "auto_score",
        "auto_max",
        "manual_score",
        "manual_max",
        "late_penalty",
        "total_score",
        "max_score",
        "needs_manual_grading",
        "reason",
        "flagged",
        "sandbox",
    ]
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    partial = path.with_suffix(".csv.partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
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
    students: list[str] = field(default_factory=list)  # regrade only these (empty: every student)
    regrade_changed: bool = False  # accept a changed source: regrade who was graded against another
    due_date: str | None = None  # stored in the gradebook (kept for later runs); "none" removes it
    late_penalty: str | None = None  # none | zero | P%/day (kept for later runs; default none)
    cluster: str | None = None  # a Dask scheduler's address: grade there (autograder/cluster.py)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def decide_sandbox(mode: str, cluster_address: str | None = None) -> tuple[bool, str]:
    """(use bwrap?, a one-line note for the output and the CSV). Never degrades silently: without a
    working bwrap, ``on`` (the default) refuses to grade; only ``--sandbox off`` runs unsandboxed. On a
    cluster each task checks its own worker."""
    if mode == "off":
        return False, "OFF (--sandbox off): submissions ran UNSANDBOXED"
    if cluster_address:
        return True, "bubblewrap on every cluster worker (no network, only the student's folder visible)"
    problem = bwrap_problem()
    if problem is None:
        return True, "bubblewrap (no network, only the student's folder visible)"
    raise UsageError(
        f"no sandbox: {problem}; install it (make system-deps) or pass --sandbox off to grade UNSANDBOXED"
    )


def plan_student(
    student_id: str, root: Path, out: Path, assignment: str, options: Options, records: dict, source: str
) -> tuple[StudentResult, Job | None]:
    """The result so far and the job to run (None: nothing to run for this student)."""
    result = StudentResult(student_id)
    if not STUDENT_ID_PATTERN.fullmatch(student_id) or len(student_id.encode()) > MAX_ID_BYTES:
        result.status = "error"
        result.reasons.append(
            f"folder name {student_id!r} is not a valid student id (letters, digits, _ . @ + - and inner "
            f"spaces, at most {MAX_ID_BYTES} bytes)"
        )
        return result, None
    folder = root / student_id / assignment
    if not folder.is_dir():
        result.status = "error"
        result.reasons.append(f"no {assignment}/ folder in the student's submission")
        return result, None
    result.submission = tree_digest(folder)
    record = records["students"].get(student_id, {})
    unchanged = record.get("status") == "graded" and (record["submission"], record["source"]) == (
        result.submission,
        source,
    )
    if unchanged and not (options.force or options.students):
        result.status = "skipped"
        return result, None
    job = Job(
        student_id=student_id,
        source=str(folder),
        assignment=assignment,
        course_dir=str(out / "course"),
        work_dir=str(out / ".work" / work_name(student_id)),
        log_path=str(out / "logs" / f"{student_id}.log"),
        template_db=str(out / ".work" / "template.db"),
        limits=options.limits,
    )
    return result, job


def finish_student(result: StudentResult, outcome: Outcome, job: Job, out: Path, options: Options) -> None:
    """Merge one worker's outcome into the main course (main thread only)."""
    result.status = outcome.status
    result.reasons.extend(outcome.reasons)
    result.flagged = outcome.flagged
    result.seconds = outcome.seconds
    course_dir, work_dir, assignment, student = (
        Path(job.course_dir),
        Path(job.work_dir),
        job.assignment,
        job.student_id,
    )
    try:
        if outcome.status == "graded" and not outcome.empty:
            left_out = merge_submission(course_dir, work_dir, assignment, student, outcome.flagged)
            result.reasons += [f"left out of the course: {', '.join(left_out)}"] if left_out else []
            result.reasons += copy_feedback(course_dir, out, assignment, student)
        elif outcome.status == "graded":  # no expected notebook: every grade 0, like nbgrader does
            record_empty_submission(course_dir, assignment, student, outcome.flagged)
            submitted = course_dir / "submitted" / student / assignment
            if submitted.exists():
                shutil.rmtree(submitted)
            sanitize.copy_regular_files(work_dir / "submitted" / student / assignment, submitted)
            (course_dir / "autograded" / student / assignment).mkdir(parents=True, exist_ok=True)
        else:  # could not be graded: keep an earlier run's grades, else record zeros
            record_empty_submission(course_dir, assignment, student, outcome.flagged, reset=False)
    except Exception as error:  # noqa: BLE001 - report, never stop the class
        result.status = "error"
        result.reasons.append(f"merging into the gradebook failed: {type(error).__name__}: {error}")
    if not options.keep_work and work_dir.exists():
        shutil.rmtree(work_dir, ignore_errors=True)


def describe(result: StudentResult) -> str:
    status = "skipped (unchanged since graded)" if result.status == "skipped" else result.status
    detail = f" ({'; '.join(result.reasons)[:400]})" if result.reasons else ""
    timing = f" {result.seconds:.1f} s" if result.seconds else ""
    return f"{result.student_id}: {status}{timing}{detail}"


def run_pool(function, items: list, workers: int, on_done) -> bool:
    """Call ``function(item)`` for each item in ``workers`` threads and ``on_done(item, result)`` in
    this thread as each finishes. Ctrl-C (SIGINT) kills the running nbgrader processes, starts no
    more and drops what was in flight; return True if that happened."""
    interrupted = threading.Event()

    def on_interrupt(signum, frame):
        interrupted.set()
        stop_workers()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grader") as executor:
            pending = {executor.submit(function, item): item for item in items}
            while pending and not interrupted.is_set():
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    if not interrupted.is_set():
                        on_done(pending.pop(future), future.result())
            executor.shutdown(cancel_futures=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if interrupted.is_set() else previous)
    return interrupted.is_set()


def grade(
    submissions: Path, assignment: str, out: Path, force: bool = False, options: Options | None = None
) -> list[StudentResult]:
    """Grade the student folders under ``submissions`` (those of ``options.students`` if given) that
    changed since last graded in ``out``; write OUT/grades.csv for every student ever graded there;
    return this run's results."""
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
    use_sandbox, sandbox_note = decide_sandbox(options.sandbox_mode, options.cluster)
    options.limits.sandbox = use_sandbox
    workers = options.workers or default_workers()
    if options.late_penalty is not None and not LATE_POLICY.fullmatch(options.late_penalty):
        raise UsageError(
            f"--late-penalty {options.late_penalty!r}: give none, zero or a percentage per day like 10%/day"
        )
    if options.due_date not in (None, "none"):
        from nbgrader.utils import parse_utc

        try:
            parse_utc(options.due_date)
        except (ValueError, OverflowError):
            raise UsageError(
                f"--due-date {options.due_date!r} is not a date like '2026-12-01 23:59 UTC'"
            ) from None
    records = load_records(out)
    records["late_penalty"] = options.late_penalty or records.get("late_penalty", "none")
    source, points = tree_digest(SOLUTIONS_DIR / assignment), source_points(assignment)
    check_source(records, source, points, assignment, options)

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
        missing = sorted(set(options.students) - set(students))
        if missing:
            raise UsageError(f"--student {', '.join(missing)}: no such student folder in {submissions}")
        students = [s for s in students if s in options.students] if options.students else students

        course_dir = out / "course"
        print(
            f"Grading {len(students)} submission(s) of {assignment} into {out} "
            + (f"on the cluster at {options.cluster}" if options.cluster else f"with {workers} worker(s)"),
            flush=True,
        )
        if not use_sandbox:
            warning = f"WARNING: sandbox {sandbox_note}: student code can read this machine's files and use the network"
            print(f"{'!' * 100}\n{warning}\n{'!' * 100}", flush=True)
            print(warning, file=sys.stderr, flush=True)
        else:
            print(f"Sandbox: {sandbox_note}", flush=True)
        limits = options.limits
        cell_timeout = (
            f"{limits.cell_timeout} s"
            if limits.cell_timeout
            else f"{PyFileConfigLoader(str(NBGRADER_CONFIG)).load_config().Execute.timeout} s (nbgrader_config.py)"
        )
        print(
            f"Limits per notebook: cell timeout {cell_timeout}, wall {limits.notebook_timeout or 'none'} s, "
            f"memory {format_size(limits.memory_bytes)}, output {limits.max_cell_output:,} chars/cell",
            flush=True,
        )
        course_dir.mkdir(parents=True, exist_ok=True)
        generate_assignment(course_dir, assignment)
        if options.due_date is not None:
            set_due_date(course_dir, assignment, options.due_date)
        records["points"][source] = points
        snapshot_gradebook(course_dir / "gradebook.db", out / ".work" / "template.db")

        results: dict[str, StudentResult] = {}
        jobs: list[tuple[StudentResult, Job]] = []
        progress = Progress(len(students))
        sandbox_name = "bwrap" if use_sandbox else "NONE"

        def keep(result: StudentResult) -> None:
            previous = records["students"].get(result.student_id, {})
            records["students"][result.student_id] = {
                "status": result.status,
                "reasons": result.reasons,
                "flagged": result.flagged,
                "submission": result.submission,
                "source": source,
                "sandbox": sandbox_name,
                "feedback": previous.get("feedback") if result.status != "graded" else None,
            }
            save_records(out, records)

        for student_id in students:
            result, job = plan_student(student_id, root, out, assignment, options, records, source)
            results[student_id] = result
            if job is not None:
                jobs.append((result, job))
                continue
            if result.status == "error":
                keep(result)
            progress.update(describe(result))

        def finished(item: tuple[StudentResult, Job], outcome: Outcome) -> None:
            result, job = item
            finish_student(result, outcome, job, out, options)
            keep(result)
            progress.update(describe(result))

        for _, job in jobs:
            job.late_penalty = records["late_penalty"]
        verdicts = None
        try:
            if options.cluster:
                settings = {
                    "assignment": assignment,
                    "limits": asdict(limits),
                    "late_penalty": records["late_penalty"],
                    "environment": cluster.environment(),  # each task checks that its worker has the same
                }
                course = cluster.course_package(course_dir, assignment, out / ".work" / "template.db")
                interrupted = cluster.run_on_cluster(options.cluster, jobs, course, settings, finished)
            else:
                verdicts = (
                    outside.start_verdict_server() if jobs else None
                )  # runs the test cells; loads Keras
                for _, job in jobs:
                    job.verdict_address, job.verdict_key = verdicts.address, verdicts.key
                interrupted = run_pool(lambda item: grade_in_worker(item[1]), jobs, workers, finished)
        finally:
            close_workers()
            if verdicts is not None:
                verdicts.close()
            if not options.keep_work:
                shutil.rmtree(out / ".work", ignore_errors=True)

    ordered = [results[s] for s in students]
    unfinished = [r.student_id for r in ordered if r.status == "pending"]
    if interrupted:
        print(f"\nInterrupted: {len(unfinished)} student(s) not finished, left as they were.", flush=True)
    try:
        problems, interrupted = write_reports(
            out, assignment, records, ordered, sandbox_note, workers, interrupted
        )
    finally:
        close_workers()
    if interrupted:
        raise Interrupted(f"every student finished is saved; to go on, run: {resume_command(unfinished)}")
    if problems:
        raise GradebookError("; ".join(problems))
    return ordered


def write_reports(
    out: Path,
    assignment: str,
    records: dict,
    results: list,
    sandbox_note: str,
    workers: int,
    interrupted: bool,
) -> tuple[list[str], bool]:
    """grades.csv, feedback, summary and histogram for every student in the gradebook; return the
    gradebook's problems (empty if sound) and whether Ctrl-C stopped the feedback."""
    course_dir = out / "course"
    print(f"Late work: {apply_late_penalties(course_dir, assignment, records['late_penalty'])}", flush=True)
    header, rows = read_grades(course_dir, assignment, records["students"])
    graded_now = {  # their worker wrote their feedback from these grades
        r.student_id
        for r in results
        if r.status == "graded" and not any(reason.startswith("feedback failed") for reason in r.reasons)
    }
    for row in rows:
        record = records["students"].get(row["student_id"])
        if record is not None and row["student_id"] in graded_now:
            record["feedback"] = row[GRADES_DIGEST]
    stale = [
        row
        for row in rows
        if row["status"] == "graded"
        and records["students"].get(row["student_id"], {}).get("feedback") != row[GRADES_DIGEST]
        and any((course_dir / "autograded" / row["student_id"] / assignment).glob("*.ipynb"))
    ]
    if stale and not interrupted:
        print(f"Regenerating the feedback of {len(stale)} student(s) whose grades changed", flush=True)

        def regenerated(row: dict, failure: str | None) -> None:
            if failure:
                row["reason"] = "; ".join(filter(None, [row["reason"], failure]))
            elif row["student_id"] in records["students"]:
                records["students"][row["student_id"]]["feedback"] = row[GRADES_DIGEST]

        interrupted = run_pool(
            lambda row: write_feedback(row["student_id"], course_dir, out, assignment),
            stale,
            workers,
            regenerated,
        )
    save_records(out, records)
    write_csv(out / "grades.csv", header, rows)
    graded = [s for s, r in records["students"].items() if r["status"] == "graded"]
    problems = gradebook_problems(course_dir / "gradebook.db", assignment, graded)
    histogram = save_histogram(rows, out / "score_histogram.png", assignment)
    summary = summary_text(rows, results, sandbox_note, problems, histogram)
    (out / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    print(summary)
    counts = Counter(r.status for r in results)
    print(
        f"Done: {counts['graded']} graded, {counts['error']} failed, {counts['skipped']} skipped (unchanged "
        f"since graded); {len(rows)} student(s) in {out / 'grades.csv'}; feedback: {out / 'feedback'}; "
        f"gradebook for manual grading: {course_dir / 'gradebook.db'}"
    )
    return problems, interrupted


class GradebookError(RuntimeError):
    """The gradebook failed its integrity check after grading (exit status 3)."""


def resume_command(unfinished: list[str]) -> str:
    """This run's command line; after ``--force`` or ``--student``, for the unfinished students only."""
    args = sys.argv[1:]
    if "--force" in args or any(arg.startswith("--student") for arg in args):
        kept = [
            a
            for i, a in enumerate(args)
            if not a.startswith(("--force", "--student")) and args[i - 1] != "--student"
        ]
        args = kept + [arg for student in unfinished for arg in ("--student", student)]
    return shlex.join(["python", "-m", "autograder", *args])


class Interrupted(Exception):
    """Ctrl-C: what was finished is saved and reported (exit status 130)."""


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
        "--student",
        action="append",
        default=[],
        metavar="ID",
        help="grade only this student, even if already graded (repeatable); the CSV keeps everyone",
    )
    parser.add_argument(
        "--regrade-changed",
        action="store_true",
        help="solutions/<assignment> changed since some students were graded: regrade them",
    )
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
        "--sandbox",
        choices=("on", "off"),
        default="on",
        help="bubblewrap sandbox: on (default; refuse to grade if bwrap does not work here) or off "
        "(run student code UNSANDBOXED, with a warning)",
    )
    parser.add_argument(
        "--due-date",
        metavar="DATE",
        help="the assignment's due date, e.g. '2026-12-01 23:59 UTC' (kept for later runs; 'none' removes it); "
        "lateness is read from each submission's timestamp.txt",
    )
    parser.add_argument(
        "--late-penalty",
        metavar="POLICY",
        help="points taken off late work: none (default), zero, or a percentage of the score per day or "
        "part of a day late, e.g. 10%%/day (kept for later runs)",
    )
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade on a Dask cluster, e.g. tcp://HOST:8786 (autograder/README.md: grading on a cluster); "
        "this machine keeps the gradebook",
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
        students=args.student,
        regrade_changed=args.regrade_changed,
        due_date=args.due_date,
        late_penalty=args.late_penalty,
        cluster=args.cluster,
    )
    try:
        results = grade(args.submissions, args.assignment, out, options=options)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as error:
        print(f"Interrupted: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted: students finished so far are saved; run the same command again.", file=sys.stderr)
        return 130
    except GradebookError as error:
        print(f"error: the gradebook failed its integrity check: {error}", file=sys.stderr)
        return 3
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if any(r.status == "error" for r in results) else 0
