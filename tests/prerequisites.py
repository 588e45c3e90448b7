"""What the test suite needs besides the Python environment, and one policy for when it is missing.

A test declares what it needs with ``@pytest.mark.needs("bwrap", ...)`` (names: :data:`PREREQUISITES`).

* **Strict mode** (``COURSE_STRICT=1``; ``.ci/run`` sets it): everything the collected tests need must
  be present. A missing prerequisite stops the run before any test, with one line per prerequisite
  naming it and how to install it. Nothing is skipped.
* Otherwise (a developer's machine) a test whose prerequisite is missing is skipped with that line as
  its reason, and the end of the run lists what was skipped and why.

The hooks that apply this policy are in ``tests/conftest.py``.
"""

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STRICT_ENV_VAR = "COURSE_STRICT"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def environment_tool(name: str) -> str | None:
    """An executable of this Python environment (``.venv/bin``) first, then from PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def find_mathjax_es5() -> Path | None:
    """A local MathJax 3 ``es5`` folder: ``$COURSE_MATHJAX_DIR``, or the django-static-mathjax package."""
    if os.environ.get("COURSE_MATHJAX_DIR"):
        folder = Path(os.environ["COURSE_MATHJAX_DIR"])
        return folder if (folder / "tex-mml-chtml.js").is_file() else None
    spec = importlib.util.find_spec("mathjax")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "static" / "mathjax" / "es5"
        if (folder / "tex-mml-chtml.js").is_file():
            return folder
    return None


def _sandbox_problem() -> str | None:
    from autograder.sandbox import bwrap_problem

    return bwrap_problem()


def _datasets_problem() -> str | None:
    from rnncourse.data import KERAS_DATASET_FILES, DatasetError, find_source_dir

    try:
        folder = find_source_dir()
    except DatasetError as error:
        return str(error)
    if folder is None:
        return "no local dataset folder ($COURSE_DATA_DIR unset and ../shared/datasets/keras absent)"
    missing = [name for name in KERAS_DATASET_FILES if not (folder / name).is_file()]
    return f"{folder} lacks {', '.join(missing)}" if missing else None


def _folder_problem(
    find_folder: Callable[[], Path | None], files: list[str], what: str, env_var: str, shared: Path
) -> str | None:
    """None if ``find_folder()`` gives a folder holding ``files``; otherwise what is wrong."""
    from rnncourse.data import DatasetError

    try:
        folder = find_folder()
    except DatasetError as error:
        return str(error)
    if folder is None:
        return f"no local folder of {what} (${env_var} unset and {shared} absent)"
    missing = [name for name in files if not (folder / name).is_file()]
    return f"{folder} lacks {', '.join(missing)}" if missing else None


def _texts_problem() -> str | None:
    from rnncourse import data

    files = [text.filename for text in data.TEXT_FILES.values()]
    return _folder_problem(data.find_text_dir, files, "texts", data.TEXT_DIR_ENV_VAR, data.SHARED_TEXT_DIR)


def _stocks_problem() -> str | None:
    from rnncourse import data

    files = [table.filename for table in data.STOCK_FILES.values()]
    return _folder_problem(
        data.find_stock_dir, files, "price tables", data.STOCK_DIR_ENV_VAR, data.SHARED_STOCK_DIR
    )


def _imdb_raw_problem() -> str | None:
    from rnncourse import data

    files = [data.IMDB_RAW_LOCAL.filename]
    return _folder_problem(
        data.find_imdb_raw_dir, files, "raw reviews", data.IMDB_RAW_DIR_ENV_VAR, data.SHARED_IMDB_RAW_DIR
    )


def _mnist_problem() -> str | None:
    from rnncourse import data

    files = [entry.filename for entry in data.MNIST_FILES.values()]
    return _folder_problem(
        data.find_mnist_dir, files, "digits", data.MNIST_DIR_ENV_VAR, data.SHARED_MNIST_DIR
    )


def _missing_tool(name: str, found: object) -> str | None:
    return None if found else f"{name} is not installed"


@dataclass(frozen=True)
class Prerequisite:
    name: str
    problem: Callable[[], str | None]  # None when present and working, else what is wrong
    install: str  # how to get it, in one short phrase


PREREQUISITES = {
    p.name: p
    for p in (
        Prerequisite(
            "bwrap",
            _sandbox_problem,
            "make system-deps (Debian/Ubuntu: apt-get install bubblewrap)",
        ),
        Prerequisite(
            "chromium",
            lambda: _missing_tool("Chromium", find_chromium()),
            "make system-deps (Debian/Ubuntu: apt-get install chromium)",
        ),
        Prerequisite(
            "mathjax",
            lambda: _missing_tool("a local MathJax 3", find_mathjax_es5()),
            "make venv (django-static-mathjax is in requirements.txt), or set COURSE_MATHJAX_DIR",
        ),
        Prerequisite(
            "websocket-client",
            lambda: _missing_tool("websocket-client", importlib.util.find_spec("websocket")),
            "make venv (websocket-client comes with jupyter_server)",
        ),
        Prerequisite(
            "jupyter-book",
            lambda: _missing_tool("jupyter-book", environment_tool("jupyter-book")),
            "make venv (jupyter-book is in requirements.txt)",
        ),
        Prerequisite(
            "ruff",
            lambda: _missing_tool("ruff", environment_tool("ruff")),
            "make venv (ruff is in requirements.txt)",
        ),
        Prerequisite(
            "datasets",
            _datasets_problem,
            "put the Keras dataset files in ../shared/datasets/keras or point COURSE_DATA_DIR at them",
        ),
        Prerequisite(
            "texts",
            _texts_problem,
            "put timemachine.txt and tinyshakespeare.txt in ../shared/datasets/text or point "
            "COURSE_TEXT_DIR at them",
        ),
        Prerequisite(
            "stocks",
            _stocks_problem,
            "put SBUX.csv and SBUX_long.csv in ../shared/datasets/stocks or point COURSE_STOCK_DIR at them",
        ),
        Prerequisite(
            "imdb-raw",
            _imdb_raw_problem,
            "put aclImdb_v1_labeled.tar.gz in ../shared/datasets/imdb_raw or point COURSE_IMDB_RAW_DIR at it",
        ),
        Prerequisite(
            "mnist",
            _mnist_problem,
            "put the four MNIST IDX files (*-ubyte.gz) in ../shared/datasets/mnist_idx or point "
            "COURSE_MNIST_DIR at them",
        ),
    )
}


@cache
def problem_with(name: str) -> str | None:
    """None if prerequisite ``name`` is there; otherwise one line: what is wrong and how to install it."""
    prerequisite = PREREQUISITES[name]
    problem = prerequisite.problem()
    return None if problem is None else f"{name}: {problem}; install: {prerequisite.install}"
