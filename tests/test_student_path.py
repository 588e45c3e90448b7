"""The student's path: the course runs from its package alone, in an environment like Colab's.

A clean virtual environment is made from the base interpreter (no ``--system-site-packages``) with
only what Colab preinstalls: TensorFlow, Keras, NumPy, Matplotlib, ipykernel and pip, with everything
they require, at the versions of ``requirements-lock.txt``: the files those distributions installed in the
course's environment (their RECORDs) are linked into the clean one, which is what pip would unpack from
the same wheels, in seconds instead of a minute. Nothing of this repository is on its path: the course package is built into a wheel here and installed by
the notebooks' own install cell, with its ``git+URL`` replaced by that wheel. Then, in a kernel of
that environment, in a folder outside the repository, quick mode, data from ``$COURSE_DATA_DIR`` (and the texts' and raw reviews' folders):

* two Colab copies run from top to bottom: a theory chapter and a lab;
* one assignment release runs with the solution's answers in its answer cells, visible tests included.

Before each notebook the package is uninstalled, so each install cell really installs it.

One substitution, said here so that nobody is surprised: on Linux x86_64 the course installs
``tensorflow-cpu`` (the same code as Colab's ``tensorflow``, without the GPU kernels), so the
clean environment has it too, and the install cell runs with ``PIP_NO_DEPS=1`` because pip would
otherwise fetch the ``tensorflow`` distribution under its other name. What the package declares is
checked instead by :func:`test_the_package_declares_only_what_colab_preinstalls`, in that environment.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from prerequisites import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.needs("datasets", "texts", "imdb-raw")]

#: What Colab preinstalls, as the lock names it on Linux x86_64 (see the module docstring).
COLAB_PREINSTALLED = ["tensorflow-cpu", "keras", "numpy", "matplotlib", "ipykernel"]
#: Distributions that provide a declared requirement under another name (same code).
SAME_CODE = {"tensorflow": ["tensorflow", "tensorflow-cpu"]}
#: The Colab copies run here: a theory chapter and a lab.
COLAB_COPIES = ["book/rnn_basics/simple_rnn_numpy.ipynb", "book/labs/imdb_data.ipynb"]
ASSIGNMENT = "numpy_rnn"
#: Modules of the course's own environment that must not be importable in the clean one.
NOT_IN_COLAB = ["rnncourse", "myst_nb", "jupytext", "nbgrader", "jupyter_book", "autograder"]
#: What the wheel is built from (pyproject.toml's packages and readme).
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE", "rnncourse", "autograder"]
CELL_TIMEOUT = 300  # seconds for one cell
INSTALL_SPEC = re.compile(r"rnncourse @ git\+[^\"'\s]+")


def colab_distributions() -> list:
    """The installed distributions of :data:`COLAB_PREINSTALLED` and pip, with everything they require."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found, wanted = {}, [*COLAB_PREINSTALLED, "pip"]
    while wanted:
        name = canonicalize_name(wanted.pop())
        if name in found:
            continue
        found[name] = distribution = metadata.distribution(name)
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                wanted.append(requirement.name)
    return list(found.values())


def mirror(distribution, site_packages: Path) -> None:
    """Link every file that ``distribution`` installed into site-packages (its RECORD) into another one."""
    source = Path(distribution.locate_file(""))
    for file in distribution.files or []:
        if file.parts[0] == "..":  # scripts in bin/: the kernel needs none
            continue
        target = site_packages / file
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source / file)


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure the assertion shows its output."""
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}:\n"
        + (result.stdout + result.stderr)[-4000:]
    )
    return result


class CleanEnvironment:
    """A venv with only Colab's preinstalled packages, the course wheel beside it, and a kernelspec."""

    def __init__(self, root: Path):
        self.root = root
        self.prefix = root / "venv"
        self.python = self.prefix / "bin" / "python"
        self.dist = root / "dist"
        self.kernels = root / "kernels"

    def build(self) -> None:
        source = self.root / "source"  # a copy: building in the checkout would leave build/ there
        for name in PACKAGE_FILES:
            if (REPO_ROOT / name).is_dir():
                shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                source.mkdir(exist_ok=True)
                shutil.copy2(REPO_ROOT / name, source / name)
        run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--wheel-dir", self.dist, source)  # fmt: skip
        base_python = getattr(sys, "_base_executable", None) or sys.executable
        run(base_python, "-m", "venv", "--without-pip", self.prefix)
        (site_packages,) = self.prefix.glob("lib/python3*/site-packages")
        for distribution in colab_distributions():
            mirror(distribution, site_packages)
        spec = self.kernels / "colab-like"
        spec.mkdir(parents=True)
        argv = [str(self.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "Colab-like", "language": "python"})
        )

    @property
    def wheel(self) -> Path:
        wheels = sorted(self.dist.glob("rnncourse-*.whl"))
        assert len(wheels) == 1, wheels
        return wheels[0]

    def python_says(self, code: str, cwd: Path) -> str:
        return run(self.python, "-c", code, cwd=cwd, env=self.environment()).stdout

    def environment(self) -> dict[str, str]:
        """What the kernel sees: the clean venv first on PATH, quick mode, local data, pip offline."""
        from rnncourse.data import find_imdb_raw_dir, find_source_dir, find_text_dir

        keep = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
        return keep | {
            "PATH": f"{self.prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "VIRTUAL_ENV": str(self.prefix),
            "COURSE_QUICK": "1",
            "COURSE_DATA_DIR": str(find_source_dir()),
            "COURSE_TEXT_DIR": str(find_text_dir()),
            "COURSE_IMDB_RAW_DIR": str(find_imdb_raw_dir()),
            "KERAS_HOME": str(self.root / "keras-home"),
            "MPLBACKEND": "Agg",
            "PIP_NO_INDEX": "1",
            "PIP_NO_DEPS": "1",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }

    def uninstall_course(self) -> None:
        run(self.python, "-m", "pip", "uninstall", "--quiet", "--yes", "rnncourse", env=self.environment())

    def execute(self, notebook: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
        """Run ``notebook`` top to bottom in a kernel of this environment, with ``folder`` as its cwd."""
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        folder.mkdir(parents=True, exist_ok=True)
        manager = KernelManager(
            kernel_name="colab-like", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.kernels)])
        )
        client = NotebookClient(
            notebook, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(folder)}}
        )
        client.execute(env=self.environment())
        return notebook


@pytest.fixture(scope="module")
def clean_environment(tmp_path_factory) -> CleanEnvironment:
    environment = CleanEnvironment(tmp_path_factory.mktemp("student-path"))
    environment.build()
    return environment


def with_local_install(notebook: nbformat.NotebookNode, wheel: Path) -> nbformat.NotebookNode:
    """The notebook with its install cell pointed at the local wheel instead of the repository."""
    install_cells = [cell for cell in notebook.cells if 'find_spec("rnncourse")' in cell.source]
    assert install_cells and notebook.cells.index(install_cells[0]) == next(
        i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
    ), "the first code cell must be the install cell"
    cell = install_cells[0]
    assert INSTALL_SPEC.search(cell.source), cell.source
    cell.source = INSTALL_SPEC.sub(f"rnncourse @ {wheel.as_uri()}", cell.source)
    return notebook


def errors_in(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        f"{output.get('ename')}: {output.get('evalue')}"
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def test_the_clean_environment_has_nothing_of_the_course(clean_environment, tmp_path):
    """Only Colab's packages: none of the course's modules, and nothing of this checkout on sys.path."""
    found = clean_environment.python_says(
        "import importlib.util, json, sys\n"
        f"print(json.dumps({{'found': [m for m in {NOT_IN_COLAB!r} if importlib.util.find_spec(m)],"
        " 'path': sys.path}))",
        cwd=tmp_path,
    )
    report = json.loads(found)
    assert report["found"] == [], f"the clean environment already has {report['found']}"
    assert not [
        entry for entry in report["path"] if entry and Path(entry).resolve().is_relative_to(REPO_ROOT)
    ]


def test_the_package_declares_only_what_colab_preinstalls(clean_environment, tmp_path):
    """Every requirement of the wheel is met by the clean environment (pip's check, by hand, with the
    one substitution of the module docstring): installing it on Colab adds only the course package."""
    clean_environment.uninstall_course()
    run(clean_environment.python, "-m", "pip", "install", "--quiet", clean_environment.wheel,
        env=clean_environment.environment())  # fmt: skip
    unmet = clean_environment.python_says(
        "from importlib.metadata import PackageNotFoundError, requires, version\n"
        "from packaging.requirements import Requirement\n"
        f"same_code = {SAME_CODE!r}\n"
        "unmet = []\n"
        "for line in requires('rnncourse'):\n"
        "    requirement = Requirement(line)\n"
        "    if requirement.marker and not requirement.marker.evaluate():\n"
        "        continue\n"
        "    versions = []\n"
        "    for name in same_code.get(requirement.name, [requirement.name]):\n"
        "        try:\n"
        "            versions.append(version(name))\n"
        "        except PackageNotFoundError:\n"
        "            pass\n"
        "    if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):\n"
        "        unmet.append(f'{line} (found {versions or \"nothing\"})')\n"
        "print('\\n'.join(unmet))\n",
        cwd=tmp_path,
    )
    assert not unmet.strip(), f"the package needs more than Colab preinstalls:\n{unmet}"
    location = clean_environment.python_says("import rnncourse; print(rnncourse.__file__)", cwd=tmp_path)
    assert Path(location.strip()).is_relative_to(clean_environment.prefix), location


@pytest.mark.parametrize("copy", COLAB_COPIES)
def test_a_colab_copy_runs_from_the_package_alone(clean_environment, tmp_path, copy):
    """The committed Colab copy runs top to bottom in the clean environment, its install cell first."""
    clean_environment.uninstall_course()
    notebook = with_local_install(nbformat.read(REPO_ROOT / copy, as_version=4), clean_environment.wheel)
    executed = clean_environment.execute(notebook, tmp_path / "colab")
    assert not errors_in(executed)
    installed = clean_environment.python_says("import rnncourse; print(rnncourse.__file__)", cwd=tmp_path)
    assert Path(installed.strip()).is_relative_to(clean_environment.prefix), installed


def filled_in_release(name: str) -> nbformat.NotebookNode:
    """The student release of an assignment with every answer cell taken from the solution."""
    release = nbformat.read(REPO_ROOT / "assignments" / name / f"{name}.ipynb", as_version=4)
    solution = nbformat.read(REPO_ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in solution.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    filled = 0
    for cell in release.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = answers[grade_id]
            filled += 1
    assert filled, f"{name}: no answer cell in the release"
    return release


def test_an_assignment_release_runs_with_its_answers_filled_in(clean_environment, tmp_path):
    """The blank release's install cell brings the package; with the solution's answers every cell,
    visible tests included, runs without an error."""
    clean_environment.uninstall_course()
    notebook = with_local_install(filled_in_release(ASSIGNMENT), clean_environment.wheel)
    executed = clean_environment.execute(notebook, tmp_path / ASSIGNMENT)
    assert not errors_in(executed)
