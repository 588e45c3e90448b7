"""The book built once per test run, in quick mode: each page is executed exactly once, by this build.

``COURSE_QUICK=1 jupyter-book build . -W -n --keep-going --path-output _build/quick`` executes every
notebook page (Jupyter Book's cache under ``_build/quick`` re-executes only pages whose code changed,
so a developer's second run is fast; CI starts from a fresh clone and executes all of them) and writes

* the HTML, which ``tests/test_browser.py`` opens in Chromium, and
* the executed notebooks (``_build/jupyter_execute/<page>.ipynb``), which ``tests/test_book_pages.py``
  checks page by page: every code cell ran, none raised.

``$COURSE_BOOK_HTML`` names an already built ``html`` folder to use instead (nothing is built; the
per-page execution checks then skip). ``$COURSE_BOOK_OUTPUT`` and ``$COURSE_BOOK_TOC`` change the build
folder and the table of contents (a preview of a partial book).
"""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from prerequisites import REPO_ROOT, environment_tool

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


def toc_entries(toc_path: Path = REPO_ROOT / "_toc.yml") -> list[str]:
    """Every page of a Jupyter Book table of contents (root first, reading order), without extension."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    yield node[key]
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    yield from walk(child)

    return list(walk(toc))


def build_quick_book() -> QuickBook:
    if os.environ.get("COURSE_BOOK_HTML"):
        html_dir = Path(os.environ["COURSE_BOOK_HTML"]).resolve()
        return QuickBook(html_dir, None, 0, "", f"COURSE_BOOK_HTML={html_dir}")
    output = Path(os.environ.get("COURSE_BOOK_OUTPUT", QUICK_OUTPUT)).resolve()
    command = [environment_tool("jupyter-book"), "build", ".", "-W", "-n", "--keep-going"]
    command += ["--path-output", str(output)]
    if os.environ.get("COURSE_BOOK_TOC"):
        command += ["--toc", os.environ["COURSE_BOOK_TOC"]]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "COURSE_QUICK": "1"},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return QuickBook(
        html_dir=output / "_build" / "html",
        executed_dir=output / "_build" / "jupyter_execute",
        returncode=result.returncode,
        log=result.stdout + result.stderr,
        command=" ".join(command),
    )
