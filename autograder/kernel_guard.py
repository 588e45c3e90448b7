"""Run inside each grading kernel before the first cell (``IPKernelApp.exec_files``).

Before every cell it puts back what a submission may have monkeypatched to fake passing tests:
Python's builtins, the attributes of NumPy, ``numpy.testing``, ``numpy.linalg`` and Keras' public
modules, and IPython's error reporting (``showtraceback``, ``set_custom_exc``). What it restored is
written to ``$AUTOGRADER_GUARD_LOG`` so the grader can report it.

This is defence in depth, not a security boundary: code running in the same process can always
undo it (for example by unregistering the hook). The grader also scans the submitted code for such
patching and flags the submission for a human (``autograder/integrity.py``).
"""


def _autograder_install_guard():
    import builtins
    import sys

    import numpy  # noqa: F401 - snapshot NumPy before any student cell runs
    import numpy.linalg  # noqa: F401
    import numpy.testing  # noqa: F401

    shell = get_ipython()  # noqa: F821 - defined in the kernel's namespace
    watched = ("numpy", "numpy.testing", "numpy.linalg", "numpy.random", "keras", "keras.layers", "keras.ops")
    pristine_builtins = dict(vars(builtins))
    modules = {}
    snapshots = {}
    shell_methods = ("showtraceback", "showsyntaxerror", "_showtraceback", "run_cell", "run_cell_async")
    shell_classes = type(shell).__mro__
    originals = {
        (cls, method): vars(cls)[method]
        for cls in shell_classes
        for method in shell_methods
        if method in vars(cls)
    }
    # IPython itself swaps these builtins in and out around every cell.
    ipython_builtins = {
        "_",
        "__",
        "___",
        "exit",
        "quit",
        "get_ipython",
        "display",
        "help",
        "input",
        "raw_input",
    }
    pristine_builtins = {
        key: value
        for key, value in pristine_builtins.items()
        if key not in ipython_builtins
        and (not key.startswith("__") or key in ("__import__", "__build_class__"))
    }
    instance_originals = {method: vars(shell)[method] for method in shell_methods if method in vars(shell)}
    original_custom_tb = shell.CustomTB
    original_stderr = sys.stderr
    import os

    log_path = os.environ.pop("AUTOGRADER_GUARD_LOG", None)
    reported = set()

    def report(what):
        # To a file the grader reads afterwards: the kernel's stderr would land in the cell's output.
        if what not in reported and log_path:
            reported.add(what)
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"restored {what}\n")

    def snapshot_new_modules():
        for name in watched:
            module = sys.modules.get(name)
            if module is not None and name not in snapshots:
                modules[name] = module
                snapshots[name] = dict(vars(module))

    def restore(*_args):
        snapshot_new_modules()
        namespace = vars(builtins)
        for key, value in pristine_builtins.items():
            if namespace.get(key, restore) is not value:
                namespace[key] = value
                report(f"builtins.{key}")
        for name, snapshot in snapshots.items():
            module = modules[name]
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                report(f"sys.modules[{name!r}]")
            namespace = vars(module)
            for key, value in snapshot.items():
                if key.startswith("__") or namespace.get(key, restore) is value:
                    continue
                namespace[key] = value
                report(f"{name}.{key}")
        for method in shell_methods:
            current = vars(shell).get(method, restore)
            if current is not instance_originals.get(method, restore):
                if method in instance_originals:
                    setattr(shell, method, instance_originals[method])
                else:
                    delattr(shell, method)
                report(f"IPython shell.{method}")
            for cls in shell_classes:
                if method not in vars(cls) or vars(cls)[method] is originals.get((cls, method)):
                    continue
                if (cls, method) in originals:
                    setattr(cls, method, originals[(cls, method)])
                else:
                    delattr(cls, method)
                report(f"IPython {cls.__name__}.{method}")
        if shell.custom_exceptions:
            shell.set_custom_exc((), None)
            shell.CustomTB = original_custom_tb
            report("IPython custom exception handler")
        if sys.stderr is not original_stderr:
            sys.stderr = original_stderr
            report("sys.stderr")

    snapshot_new_modules()
    shell.events.register("pre_run_cell", restore)


_autograder_install_guard()
del _autograder_install_guard
