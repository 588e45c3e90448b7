"""Test-suite set-up: quick mode, a private Keras cache, and MyST book pages run by nbval.

* ``COURSE_QUICK=1`` unless the caller chose otherwise: notebooks run with small data.
* ``KERAS_HOME`` points at a temporary folder, so tests never touch ``~/.keras``.
* With ``--nbval`` / ``--nbval-lax``, the MyST Markdown notebooks under ``book/`` are collected
  like ``.ipynb`` files: jupytext reads them and nbval runs every code cell in a kernel.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest

REPO_ROOT = Path(__file__).resolve().parent
BOOK_DIR = REPO_ROOT / "book"

os.environ.setdefault("COURSE_QUICK", "1")
# nbgrader runs `alembic` from PATH when it opens a gradebook: use this environment's.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
if "KERAS_HOME" not in os.environ:
    _keras_home = tempfile.mkdtemp(prefix="course-keras-home-")
    os.environ["KERAS_HOME"] = _keras_home
    atexit.register(shutil.rmtree, _keras_home, ignore_errors=True)


# book/**/*.ipynb are the Colab copies of the MyST pages (`make notebooks`): the pages themselves run.
collect_ignore_glob = ["book/*.ipynb"]


def is_myst_notebook(path: Path) -> bool:
    """A Markdown file under book/ with a jupytext MyST header is an executable notebook."""
    if path.suffix != ".md" or not path.is_relative_to(BOOK_DIR):
        return False
    head = path.read_text(encoding="utf-8")[:500]
    return head.startswith("---") and "format_name: myst" in head


def pytest_collect_file(file_path: Path, parent):
    options = parent.config.option
    if not (getattr(options, "nbval", False) or getattr(options, "nbval_lax", False)):
        return None
    if is_myst_notebook(file_path):
        return MystNotebookFile.from_parent(parent, path=file_path)
    return None


try:
    import jupytext
    import nbformat
    from nbval.plugin import IPyNbFile
except ImportError:  # pragma: no cover - nbval and jupytext are in requirements.txt
    IPyNbFile = None

if IPyNbFile is not None:

    class MystNotebookFile(IPyNbFile):
        """nbval's notebook collector, reading a MyST Markdown notebook through jupytext."""

        def collect(self):
            def read_myst(path, as_version=4):
                return jupytext.read(path, as_version=as_version)

            with mock.patch.object(nbformat, "read", read_myst):
                items = list(super().collect())
            return items


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
