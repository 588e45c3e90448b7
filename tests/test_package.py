"""``pip install rnncourse`` brings what the pages and the assignments import when they run.

pyproject.toml's ``[project].dependencies`` must name every third-party module that a book page, an
assignment or the ``rnncourse`` package imports, with a lower bound (Colab preinstalls TensorFlow,
Keras, NumPy, Matplotlib and IPython: a pin would make the install cell reinstall them). The exact
versions stay in requirements.txt. ``rnncourse.publish`` (``make notebooks``) and
``rnncourse.execute_book`` (``make book-quick``) are maintainers' tools: they run in the course
environment, not in students' notebooks.
"""

import re
import sys
import tomllib

import jupytext
import nbtools
from prerequisites import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: Import name -> the distribution that provides it, where they differ.
DISTRIBUTION_OF = {"IPython": "ipython", "absl": "tensorflow"}  # absl-py comes with TensorFlow
MAINTAINERS_ONLY = {"publish.py", "execute_book.py"}


def declared() -> dict[str, str]:
    """Distribution name (lower case) -> its requirement string."""
    return {
        re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower(): requirement
        for requirement in PYPROJECT["project"]["dependencies"]
    }


def third_party_imports(source: str) -> set[str]:
    found = nbtools.imported_modules(source)
    return {name for name in found if name not in sys.stdlib_module_names and name != "rnncourse"}


def run_time_imports() -> dict[str, set[str]]:
    """Module -> the files importing it: book pages, solution notebooks, the rnncourse package."""
    sources = []
    for path in sorted((REPO_ROOT / "book").rglob("*.md")):
        if "format_name: myst" in path.read_text(encoding="utf-8")[:500]:
            sources += [(path, c.source) for c in jupytext.read(path).cells if c.cell_type == "code"]
    for path in sorted((REPO_ROOT / "solutions").glob("*/*.ipynb")):
        sources += [(path, c.source) for c in nbtools.read(path).cells if c.cell_type == "code"]
    for path in sorted((REPO_ROOT / "rnncourse").glob("*.py")):
        if path.name not in MAINTAINERS_ONLY:
            sources.append((path, path.read_text(encoding="utf-8")))
    found: dict[str, set[str]] = {}
    for path, source in sources:
        for name in third_party_imports(source):
            found.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def test_every_run_time_import_is_a_declared_dependency():
    imports = run_time_imports()
    assert {"keras", "numpy", "matplotlib", "tensorflow"} <= set(imports), sorted(imports)
    missing = {
        name: sorted(files)[:3]
        for name, files in imports.items()
        if DISTRIBUTION_OF.get(name, name).lower() not in declared()
    }
    assert not missing, f"imported at run time but not in pyproject.toml [project].dependencies: {missing}"


def test_dependencies_are_lower_bounds_not_pins():
    for requirement in declared().values():
        assert ">=" in requirement and "==" not in requirement, (
            f"{requirement}: give a lower bound Colab meets"
        )


def test_the_book_tooling_is_not_a_dependency():
    assert not {"myst-nb", "myst_nb", "jupyter-book", "nbgrader", "jupytext"} & set(declared())


def test_the_course_environment_leaves_out_the_grammar_that_slowed_every_process():
    """``make venv`` uninstalls rfc3987-syntax: jsonschema imports it when present, and its import
    builds a grammar, about 3 s of CPU in every process that imports nbformat (benchmarks/import_times.py)."""
    import importlib.util

    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^NOT_INSTALLED := .*\brfc3987-syntax\b", makefile, re.M)
    assert importlib.util.find_spec("rfc3987_syntax") is None, "run make venv (it uninstalls rfc3987-syntax)"
    import jsonschema  # noqa: F401 - works without it
    import nbformat

    nbformat.validate(nbformat.v4.new_notebook())
