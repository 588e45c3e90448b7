"""nbgrader's Execute preprocessor with the limits the autograder needs (used in ``nbgrader autograde``).

nbgrader (0.9) handles a cell that runs past ``Execute.timeout`` by interrupting the kernel. It does
not handle a kernel that dies (``os._exit``, a signal, the memory cap) or that ignores the interrupt:
the whole submission then fails with an exception and gets no grades at all. ``GuardedExecute``:

* catches a dead or unresponsive kernel: the cell that was running gets an error output saying why,
  every later cell gets a "not run" error (so later test cells score 0), and the notebook is saved
  and graded for what ran;
* enforces a wall-clock limit for the whole notebook (``wall_timeout``): past it the kernel's process
  group is killed (with the sandbox, bubblewrap then kills everything in the kernel's PID namespace);
* caps the size of the outputs kept per cell and per notebook (``max_cell_output_bytes``,
  ``max_notebook_output_bytes``): a cell printing 100 MB keeps its first megabyte and a note;
* records what happened in :data:`autograder.sanitize.EVENTS`, for the grader's CSV ``reason``.
"""

import asyncio
import json
import os
import signal
import threading
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from autograder.outside import KernelGone
from autograder.sanitize import EVENTS


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _cell_name(cell, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id or f"cell {index}"


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _message_size(msg: dict) -> int:
    content = msg.get("content", {})
    if "text" in content:
        return len(content["text"])
    if "data" in content:
        return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in content["data"].values())
    if "traceback" in content:
        return sum(len(line) for line in content["traceback"])
    return 0


class GuardedExecute(Execute):
    """nbgrader's Execute, surviving dead or runaway kernels, with output and wall-time limits."""

    wall_timeout = Integer(0, help="Seconds for the whole notebook; 0 means no limit.").tag(config=True)
    max_cell_output_bytes = Integer(1_000_000, help="Output characters kept per cell; 0: no limit.").tag(
        config=True
    )
    max_notebook_output_bytes = Integer(
        10_000_000, help="Output characters kept per notebook; 0: no limit."
    ).tag(config=True)
    verdict_address = Unicode(
        "", help="Socket of the grader's VerdictServer, which runs the test cells."
    ).tag(config=True)
    verdict_key = Unicode("", help="Its authentication key (hex).").tag(config=True)
    source_dir = Unicode(
        "solutions", help="The course's source notebooks (CourseDirectory.source_directory)."
    ).tag(config=True)
    rpc_dir = Unicode("", help="Folder (writable by the kernel) for the test cells' requests.").tag(
        config=True
    )

    # ----------------------------------------------------------------------------------------
    # Events

    def _event(self, kind: str, cell: str | None = None, detail: str = "") -> None:
        EVENTS.append({"event": kind, "cell": cell, "detail": detail})

    # ----------------------------------------------------------------------------------------
    # Whole-notebook run: wall-clock limit

    def preprocess(self, nb, resources=None, km=None):
        self._dead_reason = None
        self._kill_reason = None
        self._notebook_bytes = 0
        self._notebook_truncated = False
        self._verdicts = None  # connection to the grader's VerdictServer (autograder/outside.py)
        # What runs in the grader comes from the course's source notebook, never from the submission.
        info = (resources or {}).get("nbgrader", {})
        source = Path(self.source_dir) / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"
        if not source.is_file():
            raise FileNotFoundError(
                f"the course's source notebook {source} is missing: nothing to grade with"
            )
        self._course_cells = nbformat.read(source, as_version=4).cells
        self._course_tests = {
            c.metadata["nbgrader"]["grade_id"]: c.source for c in self._course_cells if _is_test_cell(c)
        }
        timer = None
        if self.wall_timeout and self.wall_timeout > 0:
            timer = threading.Timer(self.wall_timeout, self._on_wall_timeout)
            timer.daemon = True
            timer.start()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if timer is not None:
                timer.cancel()
            if self._verdicts is not None:
                self._verdicts.close()

    def _on_wall_timeout(self) -> None:
        self._kill_reason = f"the notebook ran past its wall-clock limit ({self.wall_timeout} s)"
        self._kill_kernel_processes()

    def _kill_kernel_processes(self) -> None:
        """SIGKILL the kernel's process group (bwrap and everything it started, or the kernel)."""
        km = getattr(self, "km", None)
        provisioner = getattr(km, "provisioner", None) if km is not None else None
        pid = getattr(provisioner, "pid", None)
        pgid = getattr(provisioner, "pgid", None)
        try:
            if pgid:
                os.killpg(pgid, signal.SIGKILL)
            elif pid:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # ----------------------------------------------------------------------------------------
    # One cell: dead or unresponsive kernel

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._cell_bytes = 0
        self._cell_truncated = False
        runs_code = cell.cell_type == "code" and cell.source.strip()
        if self._dead_reason is not None:
            if runs_code:
                cell.outputs = [_error_output("CellNotRun", f"not run: {self._dead_reason}")]
                cell.execution_count = None
            return cell
        try:
            if runs_code and _is_test_cell(cell) and _cell_name(cell, cell_index) in self._course_tests:
                return await self._run_test_outside(cell, cell_index)
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except (DeadKernelError, CellTimeoutError, KernelGone) as error:
            if self._kill_reason:
                reason = self._kill_reason
            elif isinstance(error, CellTimeoutError) or "interrupt" in str(error):
                reason = "the kernel did not respond to an interrupt after the cell timeout, so it was killed"
            else:
                reason = "the kernel died (a crash, os._exit, a signal, or the memory limit)"
            self._kill_kernel_processes()
            self._dead_reason = reason
            name = _cell_name(cell, cell_index)
            cell.outputs = list(cell.get("outputs", [])) + [
                _error_output("KernelDied", f"{reason} in {name}")
            ]
            self._event("kernel_killed", name, reason)
            return cell

    execute_cell = run_sync(async_execute_cell)

    # ----------------------------------------------------------------------------------------
    # Test cells: run in the grading command's VerdictServer (autograder/outside.py), with the text of
    # the course's source notebook; the kernel only answers requests

    async def _run_test_outside(self, cell, cell_index):
        name = _cell_name(cell, cell_index)
        if self._verdicts is None:
            from multiprocessing.connection import Client

            self._verdicts = Client(
                self.verdict_address, family="AF_UNIX", authkey=bytes.fromhex(self.verdict_key)
            )
            cells = [
                {"cell_type": c.cell_type, "source": c.source, "metadata": c.metadata}
                for c in self._course_cells
            ]
            folder = self.rpc_dir or str(Path(self.nb.metadata.get("path", ".")) / ".rpc")
            self._verdicts.send(
                {"op": "open", "cells": cells, "connection_file": self.km.connection_file, "rpc_dir": folder}
            )
        self._verdicts.send(
            {"op": "run", "source": self._course_tests[name], "name": name, "timeout": self.timeout or 3600}
        )
        reply = await asyncio.to_thread(self._verdicts.recv)
        if "gone" in reply:
            raise KernelGone(reply["gone"])
        if reply["timed_out"]:
            self._event(
                "cell_timeout", name, f"ran past the {self.timeout} s cell timeout and was interrupted"
            )
        cell.outputs = [nbformat.from_dict(output) for output in reply["outputs"]]
        cell.execution_count = None
        return cell

    async def _async_handle_timeout(self, timeout, cell=None):
        name = _cell_name(cell, -1) if cell is not None else "?"
        self._event("cell_timeout", name, f"ran past the {timeout} s cell timeout and was interrupted")
        return await super()._async_handle_timeout(timeout, cell)

    # ----------------------------------------------------------------------------------------
    # Outputs: size caps

    def output(self, outs, msg, display_id, cell_index):
        size = _message_size(msg)
        cell_cap, notebook_cap = self.max_cell_output_bytes, self.max_notebook_output_bytes
        over_cell = cell_cap and self._cell_bytes + size > cell_cap
        over_notebook = notebook_cap and self._notebook_bytes + size > notebook_cap
        if msg.get("msg_type") == "stream" and (over_cell or over_notebook) and not self._cell_truncated:
            # Keep the head of an oversized stream message, up to the cap.
            room = min(
                cell_cap - self._cell_bytes if cell_cap else size,
                notebook_cap - self._notebook_bytes if notebook_cap else size,
            )
            if room > 0:
                msg = {**msg, "content": {**msg["content"], "text": msg["content"]["text"][:room]}}
                self._cell_bytes += room
                self._notebook_bytes += room
                super().output(outs, msg, display_id, cell_index)
        if msg.get("msg_type") != "error" and (over_cell or over_notebook):
            if not self._cell_truncated:
                self._cell_truncated = True
                limit = cell_cap if over_cell else notebook_cap
                scope = "cell" if over_cell else "notebook"
                note = f"\n[autograder] output truncated: more than {limit:,} characters of output in this {scope}\n"
                outs.append(NotebookNode(output_type="stream", name="stdout", text=note))
                self._event("output_truncated", _cell_name(self.nb.cells[cell_index], cell_index), scope)
            return None
        self._cell_bytes += size
        self._notebook_bytes += size
        return super().output(outs, msg, display_id, cell_index)
