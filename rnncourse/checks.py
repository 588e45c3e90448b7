"""Helpers for the assignments' test cells.

A test cell runs in your notebook when you run it, and in the grader's own process when your
notebook is graded (your functions are then called in your notebook's kernel, one call at a time).
These helpers work the same way in both places.
"""

import numpy as np


def count_calls(function, spied: str, namespace: dict, *args, **kwargs) -> list[tuple]:
    """Call ``function(*args, **kwargs)``; return the shapes of the arguments of each call it made to
    the notebook's function named ``spied`` (``namespace`` is the notebook's ``globals()``)."""
    if hasattr(type(function), "call_counting"):  # graded: the function lives in the notebook's kernel
        return list(function.call_counting(spied, *args, **kwargs)["calls"])
    original, calls = namespace[spied], []

    def recorder(*inner_args, **inner_kwargs):
        calls.append(tuple(np.shape(arg) for arg in inner_args))
        return original(*inner_args, **inner_kwargs)

    namespace[spied] = recorder
    try:
        function(*args, **kwargs)
    finally:
        namespace[spied] = original
    return calls


def source_function(source: str, **values):
    """The function written in ``source`` (a lambda using ``np`` and the names in ``values``), which a
    test passes to your code.

    When your notebook is graded the test runs in the grader: your code is called in your notebook's
    kernel, and a function can only be sent there as its source text."""
    function = eval(source, {"np": np, "numpy": np, **values})  # noqa: S307 - the test's own text
    function.kernel_source, function.kernel_values = source, values
    return function


def warnings_as_errors(function, *args, **kwargs):
    """``function(*args, **kwargs)`` with every warning raised as an error (where the function runs)."""
    if hasattr(type(function), "call_warnings_as_errors"):  # graded: the function lives in the kernel
        return function.call_warnings_as_errors(*args, **kwargs)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)
