"""Grade one student in a private nbgrader course folder, then merge the grades into the main gradebook.

Why a private course per student: nbgrader's gradebook is one SQLite file, and ``nbgrader autograde``
writes to it at the start (student, submission) and at the end (grades) of a run that may last
minutes. Several autograde processes sharing one file would fight over SQLite's single write lock
("database is locked") and a killed process could leave half a submission behind. Instead each
worker gets its own course folder (``OUT/.work/s-<hash of the id>/``, see :func:`work_name`) with

* a copy of the course's ``nbgrader_config.py`` plus the limits of this run (GuardedExecute, the
  sandboxed kernelspec, ZeroMQ ipc sockets in its own short temporary runtime folder),
* a copy of the assignment source and a *snapshot* of the main gradebook (taken once, before any
  worker starts: it holds the assignment and any manual grades already given to this student),
* the student's submission only, repaired by :mod:`autograder.integrity`.

The worker runs ``nbgrader autograde`` and ``nbgrader generate_feedback`` there, in parallel with
the others. The main process then merges the student's rows into the main gradebook, one student at
a time (:func:`merge_submission`, the only writer of the main gradebook), and moves the autograded
notebook and feedback into the main course folder. A student's grades depend only on that
student's notebook, so the merged gradebook holds the same scores as a sequential run.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograder import integrity, outside, sandbox, sanitize

WORKER_CONFIG = """

# ---- added by the autograder for one student's private grading course (autograder/parallel.py) ----
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from autograder.execute import GuardedExecute

c.Autograde.autograde_preprocessors = [
    GuardedExecute if step is Execute else step for step in Autograde.autograde_preprocessors.default()
]
c.Execute.kernel_name = {kernel_name!r}
c.Execute.timeout = {cell_timeout!r}
c.GuardedExecute.wall_timeout = {notebook_timeout!r}
c.GuardedExecute.max_cell_output_bytes = {max_cell_output!r}
c.GuardedExecute.max_notebook_output_bytes = {max_notebook_output!r}
c.GuardedExecute.events_path = {events_path!r}
c.GuardedExecute.rpc_dir = {rpc_dir!r}
c.GuardedExecute.verdict_address = {verdict_address!r}
c.GuardedExecute.verdict_key = {verdict_key!r}
c.KernelManager.transport = "ipc"
c.KernelManager.ip = {ipc_prefix!r}
c.KernelManager.connection_file = {connection_file!r}
# right after the kernel: remove what it left that is not a regular file (autograder/sanitize.py)
from autograder.sanitize import RemoveKernelLeftovers
c.Autograde.autograde_preprocessors.insert(1, RemoveKernelLeftovers)
c.RemoveKernelLeftovers.events_path = {events_path!r}
"""


@dataclass
class Limits:
    """Per-submission limits of one grading run."""

    cell_timeout: int | None = None  # None: nbgrader_config.py's Execute.timeout
    notebook_timeout: int = 600
    memory_bytes: int = 0
    max_cell_output: int = 1_000_000
    max_notebook_output: int = 10_000_000
    sandbox: bool = True


@dataclass
class Job:
    student_id: str
    source: Path  # the student's <assignment>/ folder in the submissions
    assignment: str
    course_dir: Path  # the main course
    work_dir: Path  # this worker's private course
    log_path: Path
    template_db: Path
    limits: Limits
    runtime: Path | None = None  # the kernel's sockets: a short temporary folder (AF_UNIX: 107 bytes)


@dataclass
class Outcome:
    student_id: str
    status: str = "pending"  # graded | error
    reasons: list[str] = field(default_factory=list)
    flagged: bool = False
    empty: bool = False  # no expected notebook: record zeros
    edited: set[str] = field(default_factory=set)  # test or locked cells whose text the student changed
    seconds: float = 0.0
    nbgrader_log: str = ""


def work_name(student_id: str) -> str:
    """The private course's folder in OUT/.work: short, one per id, never a name of the grader's
    (a student may be called ``template.db``)."""
    return "s-" + hashlib.sha256(student_id.encode()).hexdigest()[:20]


def snapshot_gradebook(db: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (the online backup API, safe while others read it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    with sqlite3.connect(db) as source, sqlite3.connect(target) as copy:
        source.backup(copy)


STOPPING = threading.Event()  # set by stop_processes(): Ctrl-C
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()
# nbgrader warns about every test cell whose text differs from the source; the student's copy of a
# cell with hidden tests always does (the release leaves them out). Edited cells are in the reason.
CHECKSUM_WARNING = re.compile(r"^.*Attribute 'checksum' for cell (\S+) has changed!.*\n?", re.M)


def environment_with_path() -> dict:
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "")
    # nbgrader's own SQLAlchemy noise when it adds a submission, in every log
    env["PYTHONWARNINGS"] = ",".join(
        f"ignore:Object of type <{kind}> not in session:Warning"
        for kind in ("SubmittedAssignment", "SubmittedNotebook")
    )
    return env


def run_logged(
    command: list[str], cwd: Path, log_path: Path | None, env: dict, timeout: float, edited=frozenset()
) -> tuple[int, str]:
    """Run ``command`` in its own session (a Ctrl-C in the terminal reaches only the grader, which
    stops it with :func:`stop_processes`); return (exit code, combined output), logged to ``log_path``
    without the checksum warnings of cells not in ``edited``."""
    if STOPPING.is_set():
        return 130, "interrupted"
    with subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as process:
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        if STOPPING.is_set():
            _kill(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            code, output = process.returncode, stdout + stderr
        except subprocess.TimeoutExpired:
            _kill(process)
            stdout, stderr = process.communicate()
            code, output = 124, f"{stdout}{stderr}\nnbgrader timed out after {timeout:.0f} s"
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            shown = " ".join(command[2:]) if command[1:2] == ["-m"] else " ".join(command)
            logged = CHECKSUM_WARNING.sub(lambda match: match[0] if match[1] in edited else "", output)
            log.write(f"$ {shown}\n{logged}\n[exit {code}]\n\n")
    return code, output


def _kill(process: subprocess.Popen) -> None:
    """Kill a process and its group (a sandboxed kernel dies with its parent: ``--die-with-parent``)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_processes() -> None:
    """Kill every nbgrader process started by :func:`run_logged` and start no more (Ctrl-C)."""
    STOPPING.set()
    with _RUNNING_LOCK:
        for process in list(_RUNNING):
            _kill(process)


def last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "Exception" in line:
            return line[:300]
    return lines[-1][:300] if lines else "nbgrader failed without output"


def prepare_worker_course(job: Job) -> dict:
    """Create the private course; return the environment for nbgrader there."""
    work = job.work_dir
    if work.exists():
        shutil.rmtree(work)
    runtime = job.runtime = Path(tempfile.mkdtemp(prefix="ag-"))
    shutil.copytree(job.course_dir / "solutions" / job.assignment, work / "solutions" / job.assignment)
    shutil.copyfile(job.template_db, work / "gradebook.db")
    limits = job.limits
    server = runtime / "kernel_server.py"
    shutil.copyfile(Path(__file__).with_name("kernel_server.py"), server)
    settings = sandbox.sandbox_settings(
        sandbox=limits.sandbox, memory_bytes=limits.memory_bytes, runtime_dir=runtime
    )
    settings["startup_file"] = str(server)
    settings_path = work / "sandbox.json"
    settings_path.write_text(json.dumps(settings, indent=1), encoding="utf-8")
    sandbox.write_kernelspec(work / "jupyter", settings_path)
    config = (job.course_dir / "nbgrader_config.py").read_text(encoding="utf-8")
    verdicts = outside.verdict_server()  # the test cells run in this process (autograder/outside.py)
    extra = WORKER_CONFIG.format(
        kernel_name=sandbox.KERNEL_NAME,
        cell_timeout=limits.cell_timeout,
        notebook_timeout=limits.notebook_timeout,
        max_cell_output=limits.max_cell_output,
        max_notebook_output=limits.max_notebook_output,
        events_path=str(work / "events.jsonl"),
        rpc_dir=str(runtime / "rpc"),
        verdict_address=verdicts.address,
        verdict_key=verdicts.key,
        ipc_prefix=str(runtime / "kernel-ipc"),
        connection_file=str(runtime / "kernel.json"),
    )
    if limits.cell_timeout is None:
        extra = extra.replace("c.Execute.timeout = None\n", "")
    (work / "nbgrader_config.py").write_text(config + extra, encoding="utf-8")
    env = environment_with_path()
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(work / "jupyter"), env.get("JUPYTER_PATH")]))
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def expected_notebooks(course_dir: Path, assignment: str) -> list[str]:
    return sorted(p.name for p in (course_dir / "solutions" / assignment).glob("*.ipynb"))


def copy_submission(job: Job, outcome: Outcome) -> bool:
    """Copy and repair the student's files into the private course; False: nothing to execute."""
    target = job.work_dir / "submitted" / job.student_id / job.assignment
    skip = {".ipynb_checkpoints", "__pycache__", "__MACOSX"}
    left_out = sanitize.copy_regular_files(job.source, target, skip)  # a link could name the solutions
    if left_out:
        outcome.reasons.append(f"left out what is not a regular file: {', '.join(left_out)}")
    expected = expected_notebooks(job.course_dir, job.assignment)
    submitted = {p.name for p in target.glob("*.ipynb")}
    for name in expected:
        if name not in submitted:
            found = ", ".join(sorted(submitted)) or "no notebook"
            outcome.reasons.append(f"missing {name} (found: {found}); scored 0")
    readable = 0
    for name in expected:
        if name not in submitted:
            continue
        path = target / name
        try:
            report = integrity.repair_file(
                path,
                job.course_dir / "assignments" / job.assignment / name,
                path,
                job.course_dir / "solutions" / job.assignment / name,
            )
        except integrity.NotebookUnreadable as error:
            outcome.status = "error"
            outcome.reasons.append(f"autograde failed: {error}")
            return False
        readable += 1
        outcome.reasons.extend(report.reasons())
        outcome.edited.update(report.edited)
        outcome.flagged = outcome.flagged or bool(report.suspicious) or report.tampered
    if not readable:
        outcome.empty = True
        return False
    return True


def read_events(job: Job) -> tuple[list[str], bool]:
    """Reasons from GuardedExecute's and RemoveKernelLeftovers' events; True to flag the submission."""
    reasons, killed = [], False
    events = job.work_dir / "events.jsonl"
    if events.exists():
        timeouts, truncated = [], []
        for line in events.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind, cell = event.get("event"), event.get("cell")
            if kind == "kernel_killed":
                killed = True
                reasons.append(f"kernel killed in {cell}: {event.get('detail')}; later cells scored 0")
            elif kind == "cell_timeout":
                timeouts.append(cell)
            elif kind == "output_truncated":
                truncated.append(cell)
            elif kind == "not_regular":
                killed = True
                reasons.append(f"removed what the kernel left that is not a regular file: {event['detail']}")
        if timeouts:
            reasons.append(f"cell timeout ({', '.join(dict.fromkeys(timeouts))}): interrupted")
        if truncated:
            reasons.append(f"output truncated ({', '.join(dict.fromkeys(truncated))})")
    return reasons, killed


OUT_OF_MEMORY = ("MemoryError", "failed to map segment", "Cannot allocate memory", "std::bad_alloc")


def execution_errors(autograded: Path, memory_bytes: int) -> list[str]:
    """Reasons naming the student's (non-test) cells that raised, and those that ran out of memory.

    Test cells are left out (their score says it); so are the errors GuardedExecute wrote for a
    killed kernel (its event already gives the reason)."""
    errors, out_of_memory = [], []
    for path in sorted(autograded.glob("*.ipynb")):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for index, cell in enumerate(notebook.get("cells", [])):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            name = meta.get("grade_id") or f"cell {index}"
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error":
                    continue
                ename = output.get("ename", "")
                text = f"{ename}: {output.get('evalue', '')}"
                if any(marker in text for marker in OUT_OF_MEMORY):
                    out_of_memory.append(name)
                elif ename not in ("KernelDied", "CellNotRun") and not meta.get("grade"):
                    errors.append(f"{name} ({ename})")
                break
    reasons = []
    if errors:
        reasons.append(f"errors in the student's cells: {', '.join(errors[:6])}")
    if out_of_memory:
        limit = sandbox.format_size(memory_bytes)
        reasons.append(f"out of memory in {', '.join(out_of_memory)} (memory limit {limit})")
    return reasons


def grade_in_worker(job: Job) -> Outcome:
    """Autograde one student in a private course and write their feedback there (runs in a thread)."""
    started = time.monotonic()
    outcome = Outcome(job.student_id)
    if job.log_path.exists():
        job.log_path.unlink()
    try:
        env = prepare_worker_course(job)
        if not copy_submission(job, outcome):
            if outcome.status != "error":
                outcome.status = "graded"
            return outcome
        limits = job.limits
        budget = (limits.notebook_timeout or 1800) * max(
            1, len(expected_notebooks(job.course_dir, job.assignment))
        )
        nbgrader = [sys.executable, "-m", "nbgrader"]
        code, output = run_logged(
            [*nbgrader, "autograde", job.assignment, "--student", job.student_id, "--create", "--force"],
            job.work_dir,
            job.log_path,
            env,
            timeout=budget + 300,
            edited=outcome.edited,
        )
        outcome.nbgrader_log = output
        event_reasons, killed = read_events(job)
        outcome.reasons.extend(event_reasons)
        autograded = job.work_dir / "autograded" / job.student_id / job.assignment
        if code != 0 or not any(autograded.glob("*.ipynb")):
            outcome.status = "error"
            outcome.reasons.append(f"autograde failed: {last_error_line(output)}")
            return outcome
        outcome.status = "graded"
        outcome.flagged = outcome.flagged or killed
        outcome.reasons.extend(execution_errors(autograded, limits.memory_bytes))
        # RemoveKernelLeftovers already removed the kernel's links: make the notebook inert for the feedback
        cut = [cell for path in sorted(autograded.glob("*.ipynb")) for cell in sanitize.sanitize_file(path)]
        if cut:
            outcome.reasons.append(f"output cut for size ({', '.join(cut)})")
        code, output = run_logged(
            [*nbgrader, "generate_feedback", job.assignment, "--student", job.student_id, "--force"],
            job.work_dir,
            job.log_path,
            env,
            timeout=600,
        )
        if code != 0:
            outcome.reasons.append(f"feedback failed: {last_error_line(output)}")
    except Exception as error:  # noqa: BLE001 - one student's failure never stops the class
        outcome.status = "error"
        outcome.reasons.append(f"grading failed: {type(error).__name__}: {error}")
    finally:
        outcome.seconds = time.monotonic() - started
        if job.runtime is not None:
            shutil.rmtree(job.runtime, ignore_errors=True)
    return outcome


# --------------------------------------------------------------------------------------------
# Merging into the main course (main process only, one student at a time)


def merge_submission(
    course_dir: Path, work_dir: Path, assignment: str, student_id: str, flagged: bool
) -> list[str]:
    """Copy the student's submission, grades and comments from the private gradebook into the main one;
    return the files left out (links, fifos...: none, the worker removed them)."""
    from nbgrader.api import Gradebook

    with (
        warnings.catch_warnings(),  # nbgrader's own SQLAlchemy "not in session" noise
        Gradebook(f"sqlite:///{work_dir / 'gradebook.db'}") as private,
        Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as main,
    ):
        warnings.simplefilter("ignore")
        theirs = private.find_submission(assignment, student_id)
        main.update_or_create_student(student_id)
        ours = main.update_or_create_submission(assignment, student_id, timestamp=theirs.timestamp)
        ours.extension = theirs.extension
        for notebook in theirs.notebooks:
            target = main.find_submission_notebook(notebook.name, assignment, student_id)
            target.flagged = bool(notebook.flagged or flagged)
            target.late_submission_penalty = notebook.late_submission_penalty
            for grade in notebook.grades:
                mine = main.find_grade(grade.name, notebook.name, assignment, student_id)
                mine.auto_score = grade.auto_score
                mine.manual_score = grade.manual_score
                mine.extra_credit = grade.extra_credit
                mine.needs_manual_grade = grade.needs_manual_grade
            for comment in notebook.comments:
                mine = main.find_comment(comment.name, notebook.name, assignment, student_id)
                mine.auto_comment = comment.auto_comment
                mine.manual_comment = comment.manual_comment
        main.db.commit()
    left_out = []
    for folder in ("submitted", "autograded", "feedback"):
        source = work_dir / folder / student_id / assignment
        target = course_dir / folder / student_id / assignment
        if target.exists():
            shutil.rmtree(target)
        if source.exists():
            left_out += sanitize.copy_regular_files(source, target)
    return left_out


def record_empty_submission(
    course_dir: Path, assignment: str, student_id: str, flagged: bool = False, reset: bool = True
) -> None:
    """Create (or, with ``reset``, zero) the student's submission in the main gradebook, every grade 0.

    Without ``reset`` an existing submission (an earlier run's grades) is left alone.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        gradebook.update_or_create_student(student_id)
        try:
            submission = gradebook.find_submission(assignment, student_id)
            if not reset:
                return
        except MissingEntry:
            submission = gradebook.add_submission(assignment, student_id)
        for notebook in submission.notebooks:
            notebook.flagged = flagged
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = False
        gradebook.db.commit()
