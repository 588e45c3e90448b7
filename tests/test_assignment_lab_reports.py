"""Fast checks of the assignments' sources, without nbgrader: the points tables the students read match
the graded cells, and the lab reports' convergence-graph function and its checks behave as specified.

The end-to-end grading of every assignment (solution, blank release, wrong submissions) is in
tests/test_assignment_grading.py.
"""

import re
import shutil
from unittest import mock

import matplotlib
import nbtools
import numpy as np
import pytest

from autograder.grade import SOLUTIONS_DIR, available_assignments

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ASSIGNMENTS = available_assignments()
LAB_REPORTS = ["imdb_lab_report", "reuters_lab_report"]
HISTORY = {
    "loss": [0.69, 0.41, 0.30, 0.22],
    "accuracy": [0.55, 0.82, 0.88, 0.92],
    "val_loss": [0.52, 0.38, 0.40, 0.47],
    "val_accuracy": [0.76, 0.85, 0.84, 0.83],
}


def solution_notebook(assignment: str):
    return nbtools.read(SOLUTIONS_DIR / assignment / f"{assignment}.ipynb")


def cell_by_id(notebook, cell_id: str):
    matches = [cell for cell in notebook.cells if cell.get("id") == cell_id]
    assert len(matches) == 1, f"no single cell with id {cell_id}"
    return matches[0]


def load_cells(assignment: str, *cell_ids: str, **constants) -> dict:
    """Execute the given cells of a solution (function definitions only) in a namespace with np, plt
    and ``constants`` (the set-up cell's constants that default arguments refer to)."""
    namespace = {"np": np, "plt": plt, **constants}
    notebook = solution_notebook(assignment)
    for cell_id in cell_ids:
        exec(compile(cell_by_id(notebook, cell_id).source, f"{assignment}:{cell_id}", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_points_table_students_read_matches_the_graded_cells(assignment):
    notebook = solution_notebook(assignment)
    graded = [c for c in notebook.cells if nbtools.nbgrader_meta(c).get("grade")]
    auto = [nbtools.nbgrader_meta(c)["points"] for c in graded if c.cell_type == "code"]
    manual = [nbtools.nbgrader_meta(c)["points"] for c in graded if c.cell_type == "markdown"]
    intro = notebook.cells[0].source
    rows = re.findall(
        r"^\|(?!.*\*\*total\*\*)[^|\n]+\|\s*(automatically|by the instructor)\s*\|\s*(\d+)\s*\|$", intro, re.M
    )
    assert [int(p) for how, p in rows if how == "automatically"] == auto, (
        "automatic rows differ from the cells"
    )
    assert [int(p) for how, p in rows if how != "automatically"] == manual, (
        "manual rows differ from the cells"
    )
    total = re.search(r"\*\*total\*\* \| \| \*\*(\d+)\*\* \((\d+) automatic \+ (\d+) by hand\)", intro)
    assert total, "the intro needs the total row"
    assert tuple(map(int, total.groups())) == (sum(auto) + sum(manual), sum(auto), sum(manual))


@pytest.mark.parametrize("assignment", LAB_REPORTS)
def test_lab_report_sizes_shrink_in_quick_mode_only(assignment, monkeypatch):
    """The set-up cell, run in both modes: quick mode shrinks every size, full mode is the report's."""
    source = cell_by_id(solution_notebook(assignment), "setup").source
    sizes = {}
    for quick in (False, True):
        monkeypatch.setenv("COURSE_QUICK", "1" if quick else "0")
        namespace = {}
        with mock.patch("rnncourse.setup", return_value="(set-up skipped in this test)"):
            exec(compile(source, f"{assignment}:setup", "exec"), namespace)
        shutil.rmtree(namespace["CHECKPOINT_DIR"], ignore_errors=True)
        sizes[quick] = {name: namespace[name] for name in ("MAXLEN", "N_TRAIN", "N_TEST", "EPOCHS")}
    shrunk = [name for name in sizes[True] if not 0 < sizes[True][name] < sizes[False][name]]
    assert not shrunk, f"sizes not smaller in quick mode: {shrunk} ({sizes})"


@pytest.fixture(scope="module")
def convergence():
    return load_cells("imdb_lab_report", "plot-solution", "figure-check")


def test_plot_convergence_draws_the_history_in_two_labelled_subplots(convergence):
    fig = convergence["plot_convergence"](HISTORY)
    try:
        assert len(fig.axes) == 2
        for ax, metric in zip(fig.axes, ("loss", "accuracy"), strict=True):
            assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == metric and ax.get_title()
            lines = {line.get_label(): line.get_data() for line in ax.get_lines()}
            assert set(lines) == {"train", "validation"}
            for label, key in (("train", metric), ("validation", f"val_{metric}")):
                x, y = lines[label]
                np.testing.assert_array_equal(x, [1, 2, 3, 4])
                np.testing.assert_array_equal(y, HISTORY[key])
            assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
        convergence["check_convergence_figure"](fig, HISTORY)
    finally:
        plt.close(fig)


def wrong_figure(kind: str):
    """Figures with the mistakes the checks must name."""
    epochs = np.arange(1, 5)
    if kind == "one-axis":
        fig, ax = plt.subplots()
        ax.plot(epochs, HISTORY["loss"], label="train")
        return fig
    fig, axes = plt.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        x = epochs - 1 if kind == "zero-based" else epochs
        train, val = HISTORY[metric], HISTORY[f"val_{metric}"]
        if kind == "swapped":
            train, val = val, train
        ax.plot(x, train, label="train")
        ax.plot(x, val, label="validation")
        ax.set_xlabel("epochs" if kind == "x-label" else "epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.legend()
    return fig


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("one-axis", "expected 2 subplots (loss, accuracy), got 1"),
        ("zero-based", "the epochs are numbered from 1"),
        ("swapped", "the 'train' line of the loss subplot must show history['loss']"),
        ("x-label", "the x label of the loss subplot must be 'epoch', got 'epochs'"),
    ],
)
def test_the_figure_checks_name_the_mistake(convergence, kind, message):
    fig = wrong_figure(kind)
    try:
        with pytest.raises(AssertionError, match=re.escape(message)):
            convergence["check_convergence_figure"](fig, HISTORY)
    finally:
        plt.close(fig)


def test_reuters_per_class_accuracy_is_recall_with_nan_for_absent_topics():
    functions = load_cells("reuters_lab_report", "per-class-solution", N_CLASSES=46)
    y_true, y_pred = [0, 0, 1, 1, 1, 3], [0, 1, 1, 1, 0, 1]
    matrix = functions["confusion_matrix"](y_true, y_pred, 4)
    np.testing.assert_array_equal(matrix, [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    accuracy = functions["per_class_accuracy"](y_true, y_pred, 4)
    np.testing.assert_allclose(accuracy, [0.5, 2 / 3, np.nan, 0.0])
