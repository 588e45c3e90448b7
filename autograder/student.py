"""Grade one student in a private nbgrader course; the grading command merges the grades afterwards.

Why a private course per student: nbgrader's gradebook is one SQLite file that ``autograde`` writes
at the start and at the end of a run that may last minutes; several runs sharing it would fight over
SQLite's single write lock, and a killed run could leave half a submission behind. So each student is
graded in ``OUT/.work/s-<hash of the id>/`` (:func:`work_name`), which holds a copy of the assignment
source, a *snapshot* of the main gradebook (the assignment and any manual grades already given) and
the student's submission only, repaired by :mod:`autograder.integrity`. The grading command then
merges the student's rows into the main gradebook, one student at a time
(:func:`autograder.gradebook.merge_submission`): a student's grades depend only on that student's
notebook, so the result is the same as a sequential run.

The grading command keeps one worker process (``python -m autograder.student``) per thread; a worker
grades the students it is sent one after another, with nbgrader's Python API (``autograde`` with
:class:`~autograder.execute.GuardedExecute` and the sandboxed kernel, then ``generate_feedback``), so
nbgrader is imported once per worker rather than twice per student. The worker's configuration is the
course's ``nbgrader_config.py`` plus a traitlets ``Config`` made here from the :class:`Job`.
"""

import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder import sandbox

# nbgrader warns about every test cell whose text differs from the source; the student's copy of a
# cell with hidden tests always does (the release leaves them out). Edited cells are in the reason.
CHECKSUM_WARNING = re.compile(r"^.*Attribute 'checksum' for cell (\S+) has changed!.*\n?", re.M)
OUT_OF_MEMORY = ("MemoryError", "failed to map segment", "Cannot allocate memory", "std::bad_alloc")


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
    source: str  # the student's <assignment>/ folder in the submissions
    assignment: str
    course_dir: str  # the main course
    work_dir: str  # this student's private course
    log_path: str
    template_db: str
    limits: Limits
    verdict_address: str = ""  # the grading command's VerdictServer (autograder/outside.py)
    verdict_key: str = ""
    late_penalty: str = "none"  # autograder/gradebook.py: late_penalty()


@dataclass
class Outcome:
    student_id: str
    status: str = "pending"  # graded | error
    reasons: list[str] = field(default_factory=list)
    flagged: bool = False
    empty: bool = False  # no expected notebook: record zeros
    seconds: float = 0.0


def work_name(student_id: str) -> str:
    """The private course's folder in OUT/.work: short, one per id, never a name of the grader's
    (a student may be called ``template.db``)."""
    return "s-" + hashlib.sha256(student_id.encode()).hexdigest()[:20]


def environment_with_path() -> dict:
    """This environment with this Python's scripts first on PATH (nbgrader runs ``alembic`` from PATH
    whenever it opens a gradebook) and without nbgrader's own SQLAlchemy noise."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONWARNINGS"] = ",".join(
        f"ignore:Object of type <{kind}> not in session:Warning"
        for kind in ("SubmittedAssignment", "SubmittedNotebook")
    )
    return env


def put_environment_on_path() -> None:
    """Put this Python's scripts folder first on PATH: nbgrader runs ``alembic`` from PATH whenever it
    opens a gradebook, which fails when the virtual environment is not activated."""
    scripts = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "Exception" in line:
            return line[:300]
    return lines[-1][:300] if lines else "nbgrader failed without output"


# --------------------------------------------------------------------------------------------
# In the worker process


def run_nbgrader(
    course: Path, command: str, log_path: Path | None, edited=(), config=None, **kwargs
) -> str | None:
    """Run nbgrader's ``command`` (an NbGraderAPI method) on ``course``; log it; return why it failed."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    put_environment_on_path()
    settings = PyFileConfigLoader("nbgrader_config.py", str(course)).load_config()
    settings.merge(Config({"CourseDirectory": {"root": str(course)}, **(config or {})}))
    result = getattr(NbGraderAPI(config=settings), command)(**kwargs)
    output = result.get("log", "") + result.get("error", "")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logged = CHECKSUM_WARNING.sub(lambda match: match[0] if match[1] in edited else "", output)
        shown = " ".join([command, *(str(v) for v in kwargs.values())])
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"$ nbgrader {shown}\n{logged}\n[{'ok' if result['success'] else 'failed'}]\n\n")
    return None if result["success"] else last_error_line(output)


def worker_config(job: Job, runtime: Path) -> dict:
    """The private course's additions to ``nbgrader_config.py`` (a traitlets Config as a dict)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    from autograder.execute import GuardedExecute
    from autograder.gradebook import CoursePenalty
    from autograder.sanitize import RemoveKernelLeftovers

    steps = [
        GuardedExecute if step is Execute else step for step in Autograde.autograde_preprocessors.default()
    ]
    steps.insert(1, RemoveKernelLeftovers)  # right after the kernel: links it left go, before nbgrader copies
    limits, work = job.limits, Path(job.work_dir)
    execute = {"kernel_name": sandbox.KERNEL_NAME}
    if limits.cell_timeout is not None:
        execute["timeout"] = limits.cell_timeout
    return {
        "Autograde": {"autograde_preprocessors": steps},
        "AssignLatePenalties": {"plugin_class": CoursePenalty},
        "CoursePenalty": {"policy": job.late_penalty},
        "Execute": execute,
        "GuardedExecute": {
            "wall_timeout": limits.notebook_timeout,
            "max_cell_output_bytes": limits.max_cell_output,
            "max_notebook_output_bytes": limits.max_notebook_output,
            "source_dir": str(work / "solutions"),
            "rpc_dir": str(runtime / "rpc"),
            "verdict_address": job.verdict_address,
            "verdict_key": job.verdict_key,
        },
        "KernelManager": {
            "transport": "ipc",
            "ip": str(runtime / "kernel-ipc"),
            "connection_file": str(runtime / "kernel.json"),
        },
    }


def prepare_worker_course(job: Job, runtime: Path) -> None:
    """The private course: the assignment source, the gradebook snapshot, the sandboxed kernelspec."""
    work = Path(job.work_dir)
    if work.exists():
        shutil.rmtree(work)
    course = Path(job.course_dir)
    shutil.copytree(course / "solutions" / job.assignment, work / "solutions" / job.assignment)
    shutil.copyfile(course / "nbgrader_config.py", work / "nbgrader_config.py")
    shutil.copyfile(job.template_db, work / "gradebook.db")
    server = runtime / "kernel_server.py"
    shutil.copyfile(Path(__file__).with_name("kernel_server.py"), server)
    settings = sandbox.sandbox_settings(
        sandbox=job.limits.sandbox, memory_bytes=job.limits.memory_bytes, runtime_dir=runtime
    )
    settings["startup_file"] = str(server)
    (work / "sandbox.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    sandbox.write_kernelspec(work / "jupyter", work / "sandbox.json")
    os.environ["JUPYTER_PATH"] = str(work / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)


def expected_notebooks(course_dir: Path, assignment: str) -> list[str]:
    return sorted(p.name for p in (course_dir / "solutions" / assignment).glob("*.ipynb"))


def copy_submission(job: Job, outcome: Outcome, edited: set) -> bool:
    """Copy and repair the student's files into the private course; False: nothing to execute."""
    from autograder import integrity, sanitize

    course = Path(job.course_dir)
    target = Path(job.work_dir) / "submitted" / job.student_id / job.assignment
    skip = {".ipynb_checkpoints", "__pycache__", "__MACOSX"}
    left_out = sanitize.copy_regular_files(Path(job.source), target, skip)  # a link could name the solutions
    if left_out:
        outcome.reasons.append(f"left out what is not a regular file: {', '.join(left_out)}")
    expected = expected_notebooks(course, job.assignment)
    submitted = {p.name for p in target.glob("*.ipynb")}
    found = ", ".join(sorted(submitted)) or "no notebook"
    outcome.reasons += [
        f"missing {name} (found: {found}); scored 0" for name in expected if name not in submitted
    ]
    present = [name for name in expected if name in submitted]
    for name in present:
        try:
            report = integrity.repair_file(
                target / name,
                course / "assignments" / job.assignment / name,
                target / name,
                course / "solutions" / job.assignment / name,
            )
        except integrity.NotebookUnreadable as error:
            outcome.status = "error"
            outcome.reasons.append(f"autograde failed: {error}")
            return False
        outcome.reasons.extend(report.reasons())
        edited.update(report.edited)
        outcome.flagged = outcome.flagged or bool(report.suspicious) or report.tampered
    outcome.empty = not present
    return bool(present)


def event_reasons(events: list[dict]) -> list[str]:
    """Reasons from what GuardedExecute and RemoveKernelLeftovers recorded."""
    reasons = [
        f"kernel killed in {e['cell']}: {e['detail']}; later cells scored 0"
        if e["event"] == "kernel_killed"
        else f"removed what the kernel left that is not a regular file: {e['detail']}"
        for e in events
        if e["event"] in ("kernel_killed", "not_regular")
    ]
    for kind, label in (
        ("cell_timeout", "cell timeout ({}): interrupted"),
        ("output_truncated", "output truncated ({})"),
    ):
        cells = dict.fromkeys(e["cell"] for e in events if e["event"] == kind)
        reasons += [label.format(", ".join(cells))] if cells else []
    return reasons


def execution_errors(autograded: Path, memory_bytes: int) -> list[str]:
    """Reasons naming the student's (non-test) cells that raised, and those that ran out of memory.
    Test cells are left out (their score says it); so are a killed kernel's cells (an event says it)."""
    import nbformat

    errors, out_of_memory = [], []
    for path in sorted(autograded.glob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            name = meta.get("grade_id") or f"cell {index}"
            error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
            if error is None:
                continue
            if any(marker in f"{error.get('ename')}: {error.get('evalue')}" for marker in OUT_OF_MEMORY):
                out_of_memory.append(name)
            elif error.get("ename") not in ("KernelDied", "CellNotRun") and not meta.get("grade"):
                errors.append(f"{name} ({error.get('ename')})")
    reasons = [f"errors in the student's cells: {', '.join(errors[:6])}"] if errors else []
    if out_of_memory:
        limit = sandbox.format_size(memory_bytes)
        reasons.append(f"out of memory in {', '.join(out_of_memory)} (memory limit {limit})")
    return reasons


def grade_student(job: Job) -> Outcome:
    """Autograde one student in a private course and write their feedback there."""
    from autograder import execute, sanitize

    started, outcome, edited = time.monotonic(), Outcome(job.student_id), set()
    work, log_path = Path(job.work_dir), Path(job.log_path)
    log_path.unlink(missing_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="ag-"))  # the kernel's sockets: AF_UNIX paths hold 107 bytes
    try:
        prepare_worker_course(job, runtime)
        if not copy_submission(job, outcome, edited):
            outcome.status = "error" if outcome.status == "error" else "graded"
            return outcome
        execute.EVENTS.clear()
        failure = run_nbgrader(
            work,
            "autograde",
            log_path,
            edited,
            worker_config(job, runtime),
            assignment_id=job.assignment,
            student_id=job.student_id,
        )
        outcome.reasons.extend(event_reasons(execute.EVENTS))
        autograded = work / "autograded" / job.student_id / job.assignment
        if failure or not any(autograded.glob("*.ipynb")):
            outcome.status = "error"
            outcome.reasons.append(f"autograde failed: {failure or 'no notebook was autograded'}")
            return outcome
        outcome.status = "graded"
        outcome.flagged = outcome.flagged or any(
            e["event"] in ("kernel_killed", "not_regular") for e in execute.EVENTS
        )
        outcome.reasons.extend(execution_errors(autograded, job.limits.memory_bytes))
        # RemoveKernelLeftovers already removed the kernel's links: make the notebook inert for the feedback
        cut = [cell for path in sorted(autograded.glob("*.ipynb")) for cell in sanitize.sanitize_file(path)]
        outcome.reasons += [f"output cut for size ({', '.join(cut)})"] if cut else []
        failure = write_feedback(work, job.assignment, job.student_id, log_path)
        outcome.reasons += [failure] if failure else []
    except Exception as error:  # noqa: BLE001 - one student's failure never stops the class
        outcome.status = "error"
        outcome.reasons.append(f"grading failed: {type(error).__name__}: {error}")
    finally:
        outcome.seconds = time.monotonic() - started
        shutil.rmtree(runtime, ignore_errors=True)
    return outcome


def write_feedback(course: Path, assignment: str, student_id: str, log_path: Path) -> str | None:
    """(Re)generate a student's feedback in ``course`` from its gradebook; return why it failed."""
    from autograder import sanitize

    for notebook in sorted((course / "autograded" / student_id / assignment).glob("*.ipynb")):
        sanitize.sanitize_file(notebook)  # one graded by an earlier version of the grader, say
    failure = run_nbgrader(
        course, "generate_feedback", log_path, assignment_id=assignment, student_id=student_id
    )
    return f"feedback failed: {failure}" if failure else None


def serve() -> None:
    """The worker's loop: one JSON request per line on stdin, one JSON reply per line."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed goes to the worker's log, not into the replies
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "grade":
            job = Job(**{**request["job"], "limits": Limits(**request["job"]["limits"])})
            reply = asdict(grade_student(job))
        else:
            args = (Path(request["course"]), request["assignment"], request["student"], Path(request["log"]))
            reply = {"failure": write_feedback(*args)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


# --------------------------------------------------------------------------------------------
# In the grading command


STOPPING = threading.Event()  # set by stop_workers(): Ctrl-C
_WORKERS: set[subprocess.Popen] = set()
_LOCAL = threading.local()


def ask_worker(request: dict, timeout: float, log_path: Path) -> dict | None:
    """Send ``request`` to this thread's worker process (started if needed); its reply, or None if the
    worker died, ran past ``timeout`` seconds (it is killed) or Ctrl-C stopped it."""
    process = getattr(_LOCAL, "process", None)
    if process is None or process.poll() is not None:
        if STOPPING.is_set():
            return None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            process = _LOCAL.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.student"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**environment_with_path(), "PYTHONDONTWRITEBYTECODE": "1"},
                start_new_session=True,  # a Ctrl-C in the terminal reaches only the grading command
            )
        _WORKERS.add(process)
    reply = None
    try:
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        deadline = time.monotonic() + timeout
        while not select.select([process.stdout], [], [], 1.0)[0] and time.monotonic() < deadline:
            pass
        line = process.stdout.readline() if time.monotonic() < deadline else ""
        reply = json.loads(line) if line else None
    except (OSError, ValueError):
        pass
    if reply is None:
        _kill(process)
    return reply


def kill_session(process: subprocess.Popen) -> None:
    """SIGKILL a process started with ``start_new_session`` and everything in its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _kill(process: subprocess.Popen) -> None:
    """Kill a worker and its process group (a sandboxed kernel dies with it: ``--die-with-parent``)."""
    kill_session(process)
    _WORKERS.discard(process)


def stop_workers() -> None:
    """Kill every worker process and start no more (Ctrl-C, or the end of a run)."""
    STOPPING.set()
    for process in list(_WORKERS):
        _kill(process)


def close_workers() -> None:
    """End the workers after a run (they exit when their input closes)."""
    for process in list(_WORKERS):
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill(process)
        _WORKERS.discard(process)


def grade_in_worker(job: Job) -> Outcome:
    """Grade one student in this thread's worker process."""
    budget = (job.limits.notebook_timeout or 1800) * max(
        1, len(expected_notebooks(Path(job.course_dir), job.assignment))
    )
    started = time.monotonic()
    reply = ask_worker(
        {"op": "grade", "job": asdict(job)}, budget + 300, Path(job.log_path).parent / ".workers.log"
    )
    if reply is None:
        why = "interrupted" if STOPPING.is_set() else f"the grading process died or ran past {budget + 300} s"
        return Outcome(
            job.student_id, "error", [f"grading failed: {why}"], seconds=time.monotonic() - started
        )
    return Outcome(**reply)


if __name__ == "__main__":
    serve()
