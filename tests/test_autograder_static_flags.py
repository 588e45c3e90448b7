"""Static flags (issue 11, item 7): ``integrity.scan_suspicious`` lists code in a student's cells that
hooks IPython or the interpreter, replaces the display or reply machinery, reads frames, loads code
or modules by computed names, or uses Keras in a NumPy-only solution; the course's own cells and
solutions are never flagged. Fast: no grading run."""

from pathlib import Path

import nbformat
import nbtools
import pytest

from autograder import integrity

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())
SOLUTION = REPO / "solutions" / "numpy_rnn" / "numpy_rnn.ipynb"
RELEASE = REPO / "assignments" / "numpy_rnn" / "numpy_rnn.ipynb"
HOOK = "installs an interpreter hook"
IPYTHON = "registers an IPython transformer or cell hook"
DISPLAY = "replaces the display or reply machinery"
FRAMES = "reads interpreter frames"
KERAS = "uses Keras/TensorFlow in a NumPy-only solution"

# id: (code a determined student appends to their rnn_forward solution cell, words the flag must contain)
ATTACKS = {
    "ast-transformer": (
        "class Quiet:\n    def visit(self, node):\n        return node\n\n"
        "get_ipython().ast_transformers.append(Quiet())",
        IPYTHON,
    ),
    "input-transformer": (
        "ip = get_ipython()\nip.input_transformers_cleanup.append(lambda lines: lines)",
        IPYTHON,
    ),
    "post-run-cell": ('get_ipython().events.register("post_run_cell", lambda result: None)', IPYTHON),
    "callbacks-by-key": (
        'hooks = get_ipython().events.callbacks\nhooks["pre_run" + "_cell"].append(print)',
        IPYTHON,
    ),
    "cell-magic": (
        "from IPython.core.magic import register_cell_magic\n\n"
        "@register_cell_magic\ndef quiet(line, cell):\n    pass",
        IPYTHON,
    ),
    "settrace": (
        "import sys\n\ndef tracer(frame, event, arg):\n    return tracer\n\nsys.settrace(tracer)",
        HOOK,
    ),
    "thread-profile": ("import threading as th\nth.setprofile(lambda *args: None)", HOOK),
    "audit-hook": ("import sys\nsys.addaudithook(lambda event, args: None)", HOOK),
    "excepthook": ("import sys\nsys.excepthook = lambda *args: None", HOOK),
    "display-pub": ("get_ipython().display_pub.publish = lambda *args, **kwargs: None", DISPLAY),
    "send-response": (
        "kernel = get_ipython().kernel\nkernel.send_response = lambda *args, **kwargs: None",
        DISPLAY,
    ),
    "showtraceback": ("shell = get_ipython()\nshell.showtraceback = lambda *args, **kwargs: None", DISPLAY),
    "stderr-alias": ("import io\nimport sys as s\ns.stderr = io.StringIO()", DISPLAY),
    "frame-globals": ('import inspect\ninspect.currentframe().f_back.f_globals["np"] = None', FRAMES),
    "getframe": ("import sys\ncaller = sys._getframe(1).f_locals", FRAMES),
    "traceback-frame": (
        "try:\n    1 / 0\nexcept ZeroDivisionError as error:\n    frame = error.__traceback__.tb_frame",
        FRAMES,
    ),
    "stack-import": ("from inspect import stack as where\nouter = where()[1]", FRAMES),
    "keras-simplernn": (
        "def rnn_step_keras(x_t, h_prev, W, U, b):\n    return keras.layers.SimpleRNN(4)(x_t)",
        KERAS,
    ),
    "tf-tanh": (
        "def rnn_step_tf(x_t, h_prev, W, U, b):\n    return tf.tanh(x_t @ W + h_prev @ U + b).numpy()",
        KERAS,
    ),
    "keras-import-alias": ("from keras.layers import GRU as Cell", KERAS),
    "getattr-concat": ('import sys\ngetattr(sys, "settr" + "ace")(None)', HOOK),
    "getattr-join": ('import sys\nhook = getattr(sys, "".join(["set", "profile"]))', HOOK),
    "getattr-fstring": ("import sys\nhook = getattr(sys, f\"{'addaudit'}hook\")", HOOK),
    "getattr-computed": ('import sys\nhook = getattr(sys, "ecartets"[::-1])', "getattr of a computed name"),
    "dunder-import": ('__import__("s" + "ys").settrace(None)', "imports a module by a computed name"),
    "import-module": (
        'import importlib\ntesting = importlib.import_module("numpy." + "testing")',
        "computed name",
    ),
    "exec-base64": (
        'import base64\nexec(base64.b64decode("c3lzLnNldHRyYWNlKE5vbmUp"))',
        "runs code from a string",
    ),
    "exec-alias": ("run = exec\nrun(open('payload.txt').read())", "runs code from a string"),
    "exec-constant": ('exec("import sys\\nsys.settrace(None)")', HOOK),
    "codecs-rot13": (
        'import codecs\nexec(codecs.decode("flf.frggenpr(Abar)", "rot13"))',
        "decodes hidden code",
    ),
    "globals-write": ('globals()["rnn_step"] = lambda *args: 0', "writes to globals()"),
    "vars-write": (
        'vars(np.testing)["assert_allclose"] = lambda *args, **kwargs: None',
        "writes to globals()",
    ),
    "setattr-module": (
        'from numpy import testing\nsetattr(testing, "assert_" + "allclose", print)',
        "setattr",
    ),
    "ctypes-hidden": ('lib = __import__("ct" + "ypes")', "ctypes"),
    "grader": ("import autograder.kernel_guard as guard", "grader's machinery"),
    "magic-line": ("%time sys.settrace(None)\nx = 1", HOOK),
    "not-python": ("sys.settrace(None)\nresult = !ls\ndef broken(:\n    pass", HOOK),
    "run-line-magic": ('get_ipython().run_line_magic("time", "sys.settrace(None)")', HOOK),
}

ORDINARY = """
import sys
import traceback
import re
import numpy as np
import matplotlib.pyplot as plt
%matplotlib inline
print("debug:", np.tanh(0.5), file=sys.stderr)
sys.stdout.flush()
pattern = re.compile(r"\\d+")
activation = "tanh"
states = np.stack([getattr(np, activation)(x) for x in np.ones((3, 2))])
try:
    np.linalg.inv(np.zeros((2, 2)))
except np.linalg.LinAlgError as error:
    traceback.print_exc()
    print("singular:", error)
words = " ".join(str(w) for w in range(3))
fig, ax = plt.subplots()
ax.plot(states[:, 0])
plt.close(fig)
"""


def solution():
    return nbtools.read(SOLUTION)


def cell_with_id(notebook, grade_id):
    return next(c for c in notebook.cells if nbtools.nbgrader_meta(c).get("grade_id") == grade_id)


def with_code(code, grade_id="rnn-forward-solution", notebook=None):
    notebook = notebook or solution()
    cell_with_id(notebook, grade_id).source += "\n\n" + code
    return notebook


def graded_like_copy_submission(submitted, assignment="numpy_rnn"):
    """What copy_submission scans: the repaired notebook, with the assignment's release and source."""
    name = f"{assignment}.ipynb"
    release = nbtools.read(REPO / "assignments" / assignment / name)
    source = nbtools.read(REPO / "solutions" / assignment / name)
    return integrity.repair(submitted, release, assignment, source, assignment)[1]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_in_a_solution_cell_is_flagged_with_its_kind(attack):
    code, kind = ATTACKS[attack]
    found = integrity.scan_suspicious(with_code(code), "numpy_rnn")
    assert any(kind in f and f.endswith("(cell rnn-forward-solution)") for f in found), found
    assert len(found) <= 8
    report = graded_like_copy_submission(with_code(code))
    assert any(kind in f for f in report.suspicious)
    assert any("flagged for review" in reason for reason in report.reasons())


def test_findings_are_short_and_deduplicated():
    code = "\n".join(ATTACKS[a][0] for a in ("settrace", "thread-profile", "audit-hook", "excepthook"))
    found = integrity.scan_suspicious(with_code(code), "numpy_rnn")
    assert found == [f"{integrity.STATIC_FLAGS['settrace']} (cell rnn-forward-solution)"]
    everything = with_code("\n".join(code for code, _ in ATTACKS.values() if "def broken" not in code))
    assert 1 <= len(integrity.scan_suspicious(everything, "numpy_rnn")) <= 8


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_course_solutions_and_releases_are_not_flagged(assignment):
    name = f"{assignment}.ipynb"
    for folder in ("solutions", "assignments"):
        notebook = nbtools.read(REPO / folder / assignment / name)
        assert integrity.scan_suspicious(notebook, assignment) == [], folder
        report = graded_like_copy_submission(notebook, assignment)
        assert report.suspicious == [] and report.reasons() == [], folder


def test_ordinary_student_code_is_not_flagged():
    notebook = with_code(ORDINARY, "rnn-step-solution")
    notebook.cells.append(nbformat.v4.new_code_cell("%%time\n" + ORDINARY))
    notebook.cells.append(nbformat.v4.new_code_cell("layer = keras.layers.SimpleRNN(4)  # my own check"))
    assert integrity.scan_suspicious(notebook, "numpy_rnn") == []


def test_keras_is_fine_in_the_lab_reports_but_not_in_numpy_only_solutions():
    for assignment in ("imdb_lab_report", "reuters_lab_report", "parameter_counts"):
        notebook = nbtools.read(REPO / "solutions" / assignment / f"{assignment}.ipynb")
        solution_cell = next(c for c in notebook.cells if nbtools.nbgrader_meta(c).get("solution"))
        solution_cell.source += "\n\nextra = keras.layers.LSTM(4)\nsquashed = tf.tanh(1.0)\n"
        assert integrity.scan_suspicious(notebook, assignment) == [], assignment
    for assignment in ("numpy_rnn", "lstm_gru_cells", "bptt", "char_rnn"):
        notebook = nbtools.read(REPO / "solutions" / assignment / f"{assignment}.ipynb")
        solution_cell = next(c for c in notebook.cells if nbtools.nbgrader_meta(c).get("solution"))
        solution_cell.source += "\n\nh = keras.layers.GRU(4)(x)\n"
        assert integrity.scan_suspicious(notebook, assignment) == [
            f"{KERAS} (cell {nbtools.nbgrader_meta(solution_cell)['grade_id']})"
        ]
        assert integrity.scan_suspicious(notebook) == [], "without the assignment, no Keras rule"


@pytest.mark.parametrize("grade_id", ["setup", "rnn-step-visible-test", "rnn-forward-hidden-test-zero-state"])
def test_the_same_code_in_a_locked_or_test_cell_is_not_flagged(grade_id):
    notebook = solution()
    cell = cell_with_id(notebook, grade_id)
    assert nbtools.nbgrader_meta(cell).get("locked")
    cell.source += "".join(f"\n\n{code}" for code, _ in ATTACKS.values() if "def broken" not in code)
    assert integrity.scan_suspicious(notebook, "numpy_rnn") == []
    if nbtools.nbgrader_meta(cell).get("grade"):  # a test cell is the course's even without "locked"
        cell.metadata["nbgrader"]["locked"] = False
        assert integrity.scan_suspicious(notebook, "numpy_rnn") == []


def test_a_student_cell_that_claims_to_be_locked_is_scanned():
    """copy_submission scans after repair, which keeps only the release's nbgrader metadata."""
    code, kind = ATTACKS["settrace"]
    notebook = solution()
    fake = {"nbgrader": {"locked": True, "grade": True, "grade_id": "my-own-test", "points": 0}}
    notebook.cells.append(nbformat.v4.new_code_cell(code, metadata=fake))
    report = graded_like_copy_submission(notebook)
    assert any(kind in f and f"(cell {len(notebook.cells) - 1})" in f for f in report.suspicious), (
        report.suspicious
    )


def test_repair_file_takes_the_assignment_from_the_release_folder(tmp_path):
    submitted = tmp_path / "numpy_rnn.ipynb"
    nbformat.write(with_code(ATTACKS["tf-tanh"][0]), submitted)
    report = integrity.repair_file(submitted, RELEASE, submitted, SOLUTION)
    assert report.suspicious == [f"{KERAS} (cell rnn-forward-solution)"]


def test_code_too_deeply_nested_to_scan_is_flagged_not_a_crash():
    deep = "x = " + " + ".join(['"ab"'] * 3000)
    found = integrity.scan_suspicious(with_code(deep), "numpy_rnn")
    assert found == ["code the scan could not read (RecursionError) (cell rnn-forward-solution)"]
