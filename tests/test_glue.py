"""``rnncourse.glue`` emits exactly what ``myst_nb.glue`` emits (for a NumPy scalar, what it emits for the
Python number), and nothing students run needs myst_nb.

The book build reads glued values from the display messages of the executed cells; a page that glues
with the course helper must give it the same messages as myst-nb's own ``glue`` (the strict book build
then resolves every ``{glue:...}`` role). Both are called in one IPython shell, in a subprocess (the
shell and its inline Matplotlib backend are process-wide), and their captured outputs compared.
"""

import json
import re
import subprocess
import sys
import textwrap

import jupytext
import nbtools
import pytest
from prerequisites import REPO_ROOT

COMPARE = textwrap.dedent(
    """
    import base64, json

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import Markdown
    from IPython.utils.capture import capture_output

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})  # what a Jupyter kernel's inline backend registers
    from myst_nb import glue as myst_glue

    from rnncourse import glue as course_glue

    figure, axes = plt.subplots(figsize=(2, 1.5))
    axes.plot([0, 1, 2], [1, 0, 2])
    values = {
        "text": "the largest gap is in the bin [0.40, 0.50)",
        "integer": 25_000,
        "float": 0.8631,
        "numpy": __import__("numpy").float32(0.125),
        "markdown": Markdown("| model | accuracy |\\n| --- | --- |\\n| GRU | 0.9 |"),
        "figure": figure,
    }

    def captured(glue, name, value, display):
        with capture_output() as capture:
            glue(name, value, display=display)
        return [
            {
                "data": {k: v if isinstance(v, str) else base64.b64encode(v).decode() for k, v in o.data.items()},
                "metadata": o.metadata,
            }
            for o in capture.outputs
        ]

    result = {}
    for display in (False, True):
        for name, value in values.items():
            result[f"{name}, display={display}"] = (
                # a NumPy scalar: the course stores the Python number, which {glue:text}`x:.2f` can
                # format (myst-nb would store "np.float32(0.125)", which the build cannot format)
                captured(myst_glue, name, value.item() if name == "numpy" else value, display),
                captured(course_glue, name, value, display),
            )
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def both_glues():
    result = subprocess.run(
        [sys.executable, "-c", COMPARE], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


KINDS = [
    f"{name}, display={display}"
    for display in (False, True)
    for name in ("text", "integer", "float", "numpy", "markdown", "figure")
]


@pytest.mark.parametrize("kind", KINDS)
def test_course_glue_emits_what_myst_nb_glue_emits(both_glues, kind):
    theirs, ours = both_glues[kind]
    assert len(theirs) == 1, f"myst_nb.glue emitted {len(theirs)} messages for {kind}"
    assert ours == theirs


def test_the_comparison_covers_rich_output(both_glues):
    """The figure is stored as a PNG and the Markdown as text/markdown, under glue's hidden prefix."""
    (figure,) = both_glues["figure, display=False"][1]
    (markdown,) = both_glues["markdown, display=False"][1]
    assert "application/papermill.record/image/png" in figure["data"]
    assert "application/papermill.record/text/markdown" in markdown["data"]
    assert markdown["metadata"]["scrapbook"] == {
        "name": "markdown",
        "mime_prefix": "application/papermill.record/",
    }


BOOK_PAGES = [
    path
    for path in sorted((REPO_ROOT / "book").rglob("*.md"))
    if "format_name: myst" in path.read_text(encoding="utf-8")[:500]
]
NOTEBOOKS = sorted((REPO_ROOT / "solutions").glob("*/*.ipynb")) + sorted(
    (REPO_ROOT / "assignments").glob("*/*.ipynb")
)


@pytest.mark.parametrize("path", BOOK_PAGES + NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_students_code_never_imports_myst_nb(path):
    notebook = jupytext.read(path) if path.suffix == ".md" else nbtools.read(path)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert "myst_nb" not in nbtools.imported_modules(cell.source), (
                f"{path.relative_to(REPO_ROOT)}, code cell {number}: glue with `from rnncourse import glue`"
            )


def test_book_pages_glue_with_the_course_helper():
    gluing = [path for path in BOOK_PAGES if "glue(" in path.read_text(encoding="utf-8")]
    assert gluing
    for path in gluing:
        code = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
        assert re.search(r"^from rnncourse import (.*\b)?glue\b", code, re.M), path.relative_to(REPO_ROOT)
