"""Grade students on a Dask cluster (``python -m autograder ... --cluster tcp://HOST:8786``).

Each student is one Dask task. The task carries what grading that student needs, so that workers
share no file system with the grading command: the student's files (packed), and, scattered once to
every worker, the course (``solutions/<assignment>``, the release, ``nbgrader_config.py``) and the
snapshot of the gradebook. On the worker the task checks the course environment and the sandbox,
starts that worker's own :class:`~autograder.outside.VerdictServer` (the test cells run there, Keras
loaded once per worker) and grades the student exactly as a local run does
(:func:`autograder.student.grade_in_worker`: a private course, the kernel in its bubblewrap sandbox).
It returns the outcome, the student's log and the private course's results (gradebook, autograded
notebook, feedback), packed. The grading command unpacks them where a local worker would have left
them and merges them into the main gradebook: it stays the only writer.

A task whose worker dies is run again elsewhere by Dask (``retries=1`` for a task that fails); one
that still fails is recorded with its reason, like any submission that could not be graded.
"""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from autograder import sanitize
from autograder.student import Job, Limits, Outcome, grade_in_worker, kill_session, work_name

_SERVER_LOCK = threading.Lock()


def pack(folder: Path, left_out: list | None = None) -> bytes:
    """The regular files and folders under ``folder`` as a gzipped tar; what is not one (a link, a
    fifo) is left out and named in ``left_out``."""
    with tempfile.TemporaryDirectory(prefix="ag-pack-") as tmp:
        copy = Path(tmp) / "files"
        if folder.is_dir():
            (left_out if left_out is not None else []).extend(sanitize.copy_regular_files(folder, copy))
        else:
            copy.mkdir()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            archive.add(copy, arcname=".")
        return buffer.getvalue()


def unpack(data: bytes, target: Path) -> None:
    """Unpack what :func:`pack` made into ``target``: regular files and folders only, inside it."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(target, filter="data", members=[m for m in archive if m.isfile() or m.isdir()])


def course_package(course_dir: Path, assignment: str, template_db: Path) -> dict:
    """What every task needs of the course, packed once (Dask sends it once to each worker)."""
    with tempfile.TemporaryDirectory(prefix="ag-course-") as tmp:
        course = Path(tmp)
        for folder in ("solutions", "assignments"):
            sanitize.copy_regular_files(course_dir / folder / assignment, course / folder / assignment)
        (course / "nbgrader_config.py").write_bytes((course_dir / "nbgrader_config.py").read_bytes())
        return {"course": pack(course), "template_db": template_db.read_bytes()}


def grade_task(course: dict, student_id: str, submission: bytes, settings: dict) -> dict:
    """On a Dask worker: grade one student; return the outcome, the log and the packed results."""
    from autograder import outside
    from autograder.sandbox import bwrap_problem

    host, found = socket.gethostname(), environment()
    differs = [
        f"{k} {v} here, {found[k]} on the worker" for k, v in settings["environment"].items() if found[k] != v
    ]
    reason = f"worker {host}: not the course environment ({'; '.join(differs)})" if differs else None
    if reason is None and settings["limits"]["sandbox"] and bwrap_problem() is not None:
        reason = f"worker {host}: no sandbox ({bwrap_problem()}); refusing to grade (--sandbox off allows it)"
    if reason is not None:
        return {"outcome": asdict(Outcome(student_id, "error", [reason])), "log": "", "work": b""}
    with _SERVER_LOCK:
        server = outside.start_verdict_server()
    with tempfile.TemporaryDirectory(prefix="ag-task-") as tmp:
        root = Path(tmp)
        unpack(course["course"], root / "course")
        (root / "template.db").write_bytes(course["template_db"])
        unpack(submission, root / "submission")
        work = root / "work" / work_name(student_id)
        job = Job(
            student_id=student_id,
            source=str(root / "submission"),
            assignment=settings["assignment"],
            course_dir=str(root / "course"),
            work_dir=str(work),
            log_path=str(root / "logs" / "student.log"),
            template_db=str(root / "template.db"),
            limits=Limits(**settings["limits"]),
            verdict_address=server.address,
            verdict_key=server.key,
            late_penalty=settings["late_penalty"],
        )
        outcome = grade_in_worker(job)
        log = Path(job.log_path)
        return {
            "outcome": asdict(outcome),
            "log": f"[graded on worker {host}, pid {os.getpid()}]\n"
            + (log.read_text("utf-8") if log.exists() else ""),
            "work": pack(work),
        }


GRADING_PACKAGES = ("nbgrader", "keras", "tensorflow-cpu", "tensorflow", "numpy", "ipykernel", "bleach")


def environment() -> dict:
    """What grading depends on here: Python, the versions of the packages it uses, the grader's code."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        code.update(path.read_bytes())
    return {
        "python": sys.version.split()[0],
        **{name: installed(name) for name in GRADING_PACKAGES},
        "autograder": code.hexdigest()[:12],
    }


def describe_worker() -> str:
    """On a Dask worker: where it runs and with what (listed at the start of a run)."""
    found = environment()
    return f"{socket.gethostname()}: Python {found['python']}, keras {found['keras']}, autograder {found['autograder']}"


def run_on_cluster(address: str, items: list, course: dict, settings: dict, on_done) -> bool:
    """Grade ``items`` ((result, Job) pairs) on the cluster at ``address``; call ``on_done(item, Outcome)``
    here as each finishes, after unpacking its results into the job's work folder. Return True if
    Ctrl-C stopped it (the tasks still running are cancelled)."""
    from distributed import Client, as_completed

    interrupted = False
    with Client(address, timeout="30s") as client:
        environments = client.run(describe_worker)
        print(f"Cluster {address}: {len(environments)} worker(s)", flush=True)
        for worker, environment in sorted(environments.items()):
            print(f"  {worker}  {environment}", flush=True)
        shared = client.scatter(course, broadcast=True)
        futures, left_out = {}, {}
        for item in items:
            job = item[1]
            submission = pack(Path(job.source), left_out.setdefault(job.student_id, []))
            future = client.submit(
                grade_task, shared, job.student_id, submission, settings, retries=1, pure=False
            )
            futures[future] = item
        try:
            for future in as_completed(futures):
                item = futures[future]
                job = item[1]
                try:
                    reply = future.result()
                except Exception as error:  # noqa: BLE001 - a lost worker, twice: recorded, never lost
                    why = f"grading failed on the cluster: {type(error).__name__}: {error}"
                    on_done(item, Outcome(job.student_id, "error", [why[:500]]))
                    continue
                if reply["work"]:
                    unpack(reply["work"], Path(job.work_dir))
                log = Path(job.log_path)
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(reply["log"], encoding="utf-8")
                outcome = Outcome(**reply["outcome"])
                if left_out[job.student_id]:  # as a local run says it (autograder/student.py)
                    outcome.reasons.insert(
                        0, f"left out what is not a regular file: {', '.join(left_out[job.student_id])}"
                    )
                on_done(item, outcome)
        except KeyboardInterrupt:
            interrupted = True
            client.cancel(list(futures))
    return interrupted


class LoopbackCluster:
    """A Dask scheduler and single-threaded workers on 127.0.0.1, each process in a folder of its own
    (for tests and benchmarks; ``close()`` stops them)."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder, self.workers = folder, []
        self.scheduler_file = folder / "scheduler.json"
        self.scheduler = self._start("scheduler", "dask_scheduler", "--host", "127.0.0.1", "--port", "0")
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        for _ in range(workers):
            name = f"worker{len(self.workers)}"
            self.workers.append(self._start(name, "dask_worker", "--nthreads", "1", "--name", name))
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=120)

    def _start(self, name: str, program: str, *args: str) -> subprocess.Popen:
        home = self.folder / name
        home.mkdir(parents=True)
        command = [sys.executable, "-m", f"distributed.cli.{program}", *args, "--no-dashboard"]
        with open(home / "log.txt", "w") as log:
            return subprocess.Popen(
                [*command, "--scheduler-file", str(self.scheduler_file)],
                cwd=home,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def busy_worker(self) -> int | None:
        """The index of a worker that is running a task now, if any."""
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
            busy = [names[address] for address, keys in client.processing().items() if keys]
        return int(busy[0].removeprefix("worker")) if busy else None

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL a process of the cluster and everything in its session (a worker and its nanny)."""
        kill_session(process)

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            self.kill(process)
