"""Run inside each grading kernel before the first cell (``IPKernelApp.exec_files``): answer the grader.

The tests of a graded cell run in the grader's own process (``autograder/outside.py``), never here.
When a test needs the student's code, the grader asks this kernel, one request at a time, through a
silent ``_autograder_rpc(path)`` call: read a name, an attribute or an item, call a function, take
a length. The request (``path.json``, arrays in ``path.npz``) and the answer (``path.out.json`` and
``path.out.npz``) are plain data: numbers, strings, lists, tuples, dicts and numeric or string NumPy
arrays. Any other object stays here and is sent as a numbered handle the grader can ask about.

Nothing in this file is secret, and nothing in it needs to be trusted: the whole kernel belongs to
the student, who may replace this function. Whatever comes back is only the student's answer; the
grader decides what it is worth.
"""


def _autograder_install_rpc():
    import itertools
    import json
    import operator
    import os
    import warnings

    import numpy

    shell = get_ipython()  # noqa: F821 - defined in the kernel's namespace
    namespace = shell.user_ns
    handles, numbers = {}, {}
    plain_kinds = "biufcSUmM"  # NumPy dtype kinds sent as arrays: no objects, no structured records
    tensor_types = {"EagerTensor", "Tensor", "Variable", "ResourceVariable", "KerasVariable"}

    def handle(value):
        number = numbers.setdefault(id(value), len(handles) + 1)  # one number per object: ``is`` works
        handles[number] = value
        kind = type(value)
        mro = [f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__][:64]
        return {"$handle": number, "name": kind.__name__, "mro": mro}

    def encode(value, arrays, depth=0):
        """Plain data as itself (arrays into ``arrays``); any other object as a handle."""
        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if depth > 32 or len(arrays) > 10_000:
            return handle(value)
        if kind is numpy.ndarray or isinstance(value, numpy.generic) or kind.__name__ in tensor_types:
            array = numpy.asarray(value)
            if array.dtype.kind not in plain_kinds:
                return handle(value)
            key = f"a{len(arrays)}"
            arrays[key] = array
            return {"$nd": key, "scalar": isinstance(value, numpy.generic)}
        if kind in (list, tuple) and len(value) <= 100_000:
            items = [encode(item, arrays, depth + 1) for item in value]
            return items if kind is list else {"$tuple": items}
        if kind is dict and len(value) <= 100_000:
            return {
                "$dict": [
                    [encode(k, arrays, depth + 1), encode(v, arrays, depth + 1)] for k, v in value.items()
                ]
            }
        return handle(value)

    def decode(value, arrays):
        if isinstance(value, list):
            return [decode(item, arrays) for item in value]
        if not isinstance(value, dict):
            return value
        if "$nd" in value:
            array = arrays[value["$nd"]]
            return array[()] if value.get("scalar") else array
        if "$tuple" in value:
            return tuple(decode(item, arrays) for item in value["$tuple"])
        if "$dict" in value:
            return {decode(k, arrays): decode(v, arrays) for k, v in value["$dict"]}
        if "$function" in value:  # a test's function, given as source (rnncourse.checks.source_function)
            return eval(value["$function"], {"np": numpy, "numpy": numpy, **decode(value["values"], arrays)})
        return handles[value["$handle"]]

    def perform(request, arrays):
        op = request["op"]
        if op == "get":
            if request["name"] not in namespace:
                raise NameError(f"name {request['name']!r} is not defined")
            return namespace[request["name"]]
        target = handles[request["handle"]]
        if op == "getattr":
            return getattr(target, request["attr"])
        if op == "getitem":
            return target[decode(request["key"], arrays)]
        if op == "len":
            return len(target)
        if op == "iterate":
            return list(itertools.islice(target, 100_000))
        if op == "asarray":
            return numpy.asarray(target)
        if op == "operator":  # target / other, other + target (name "radd"), ...
            name, other = request["name"], decode(request["key"], arrays)
            if name.startswith("r") and name != "rshift":
                return getattr(operator, name[1:])(other, target)
            return getattr(operator, name)(target, other)
        if op == "bool":
            return bool(target)
        if op == "str":
            return str(target)[:10_000]
        if op == "call":
            args = decode(request["args"], arrays)
            kwargs = decode(request["kwargs"], arrays)
            spied = request.get("spy")
            if spied is None:
                with warnings.catch_warnings():
                    if request.get("warnings_as_errors"):
                        warnings.simplefilter("error")
                    return target(*args, **kwargs)
            # Count the calls that ``target`` makes to the notebook's function ``spied``.
            original, calls = namespace[spied], []

            def recorder(*inner_args, **inner_kwargs):
                calls.append(tuple(numpy.shape(arg) for arg in inner_args))
                return original(*inner_args, **inner_kwargs)

            namespace[spied] = recorder
            try:
                return {"result": target(*args, **kwargs), "calls": calls}
            finally:
                namespace[spied] = original
        raise ValueError(f"unknown request {op!r}")

    def rpc(path):
        arrays = {}
        try:
            with open(path + ".json", encoding="utf-8") as handle:
                request = json.load(handle)
            if os.path.exists(path + ".npz"):
                with numpy.load(path + ".npz", allow_pickle=False) as stored:
                    arrays = {key: stored[key] for key in stored.files}
            out_arrays = {}
            reply = {"ok": encode(perform(request, arrays), out_arrays)}
        except BaseException as error:  # noqa: BLE001 - every failure of the student's code is an answer
            out_arrays = {}
            reply = {"error": {"type": type(error).__name__, "message": str(error)[:4000]}}
        if out_arrays:
            numpy.savez(path + ".out.npz", **out_arrays)
        with open(path + ".out.json", "w", encoding="utf-8") as handle:
            json.dump(reply, handle)

    namespace["_autograder_rpc"] = rpc


_autograder_install_rpc()
del _autograder_install_rpc
