"""The book built once per test run, in quick mode: each page is executed exactly once, by this build.

``COURSE_QUICK=1 jupyter-book build . -W -n --keep-going --path-output _build/quick`` executes every
notebook page (Jupyter Book's cache under ``_build/quick`` re-executes only pages whose code changed,
so a developer's second run is fast; CI starts from a fresh clone and executes all of them) and writes

* the HTML, which ``tests/test_browser.py`` opens in Chromium, and
* the executed notebooks (``_build/jupyter_execute/<page>.ipynb``), which ``tests/test_book_pages.py``
  checks page by page: every code cell ran, none raised.

The build starts in the background when the tests are collected (``tests/conftest.py``), so it runs
while the grading tests run; the first test that needs the book waits for it.

``$COURSE_BOOK_HTML`` names an already built ``html`` folder to use instead (nothing is built; the
per-page execution checks then skip). ``$COURSE_BOOK_OUTPUT`` and ``$COURSE_BOOK_TOC`` change the build
folder and the table of contents (a preview of a partial book).
"""

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prerequisites import REPO_ROOT, environment_tool

from rnncourse.execute_book import toc_entries  # noqa: F401 - the page tests read the pages from here

QUICK_OUTPUT = REPO_ROOT / "_build" / "quick"


@dataclass(frozen=True)
class QuickBook:
    html_dir: Path
    executed_dir: Path | None  # None when the HTML was given ($COURSE_BOOK_HTML), not built here
    returncode: int
    log: str
    command: str

    def executed_notebook(self, entry: str) -> Path:
        """The executed copy of a toc entry such as ``book/gated/gru``."""
        return self.executed_dir / f"{entry}.ipynb"

    def error_report(self, entry: str) -> str:
        """Jupyter Book's traceback for a page whose execution failed, if it wrote one."""
        report = self.html_dir / "reports" / f"{entry}.err.log"
        return report.read_text(encoding="utf-8", errors="replace") if report.is_file() else ""


class QuickBookBuild:
    """The quick build, started in the background as soon as the tests are collected.

    It runs while the grading tests run (they alternate between working and waiting on kernels, so
    the two share the cores well) and :meth:`result` waits for it. Each page is still executed once.
    """

    def __init__(self):
        self.given = os.environ.get("COURSE_BOOK_HTML")
        self.output = Path(os.environ.get("COURSE_BOOK_OUTPUT", QUICK_OUTPUT)).resolve()
        self.command = [environment_tool("jupyter-book"), "build", ".", "-W", "-n", "--keep-going"]
        self.command += ["--path-output", str(self.output)]
        if os.environ.get("COURSE_BOOK_TOC"):
            self.command += ["--toc", os.environ["COURSE_BOOK_TOC"]]
        self.process = None
        self._log = None

    def start(self) -> "QuickBookBuild":
        if self.given or self.process is not None:
            return self
        self.output.mkdir(parents=True, exist_ok=True)
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # no pipe to fill up
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env={**os.environ, "COURSE_QUICK": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped as a group if the run ends early
        )
        return self

    def result(self, timeout: float = 3600) -> QuickBook:
        if self.given:
            html_dir = Path(self.given).resolve()
            return QuickBook(html_dir, None, 0, "", f"COURSE_BOOK_HTML={html_dir}")
        self.start()
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            returncode = -1
        self._log.seek(0)
        return QuickBook(
            html_dir=self.output / "_build" / "html",
            executed_dir=self.output / "_build" / "jupyter_execute",
            returncode=returncode,
            log=self._log.read(),
            command=" ".join(self.command),
        )

    def stop(self) -> None:
        """End the build and its kernels (the run is over before anyone needed the book)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
