"""Run each graded test cell in the grader's own process; the student's kernel only computes.

nbgrader runs a test cell in the student's kernel and scores it by whether that cell's output shows
an error. Code in the same kernel can rewrite the cell, its outputs or the values it compares, and
read the hidden tests. Here a test cell runs in the grader: ``GuardedExecute`` (in the
``nbgrader autograde`` process) hands it to the grading command's :class:`VerdictServer`, which never
executes student code, and it runs there in a namespace of its own, one per student:

* names the test defines, Python's builtins, the modules and literal constants that the course's
  locked cells import or set, and cells tagged ``grader`` (the course's own check functions) live
  in the grader;
* any other name (the student's functions, the models and histories their code made) is read from
  the kernel as plain data (numbers, strings, lists, tuples, dicts, numeric NumPy arrays) or as a
  :class:`Remote` handle: calling it, reading an attribute or an item of it asks the kernel again.

So the hidden tests, the references they compute and every comparison stay in the grader; the kernel
sees only the inputs of each call, and a test cell's points depend on what the test (here) raised.
"""

import atexit
import builtins
import functools
import io
import json
import os
import queue
import secrets
import shutil
import stat
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np
from IPython.core.inputtransformer2 import TransformerManager

from rnncourse.quiet import import_tensorflow_quietly

MAX_ANSWER_BYTES = 256 * 2**20
MAX_ITEMS = 100_000
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class StudentCodeError(Exception):
    """The student's code raised an exception that is not one of Python's own."""


class KernelGone(Exception):
    """The kernel died or stopped answering: the runner marks the cell and every later cell."""


def _is_builtin_exception(name: str) -> bool:
    kind = getattr(builtins, name, None)
    return isinstance(kind, type) and issubclass(kind, Exception)


class Remote:
    """An object that lives in the student's kernel; every use asks the kernel."""

    __slots__ = ("_link", "_handle", "_type_name", "_mro")
    READABLE_DUNDERS = ("__name__", "__qualname__", "__module__", "__doc__")

    def __init__(self, link, handle: int, type_name: str, mro: tuple = ()):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_mro", mro)

    def _ask(self, op, **fields):
        return self._link.request({"op": op, "handle": self._handle, **fields})

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in self.READABLE_DUNDERS:
            raise AttributeError(name)
        return self._ask("getattr", attr=name)

    def __call__(self, *args, **kwargs):
        return self._ask("call", args=list(args), kwargs=kwargs)

    def call_warnings_as_errors(self, *args, **kwargs):  # rnncourse.checks.warnings_as_errors
        return self._ask("call", args=list(args), kwargs=kwargs, warnings_as_errors=True)

    def __getitem__(self, key):
        return self._ask("getitem", key=key)

    def __len__(self):
        length = self._ask("len")
        if type(length) is not int or not 0 <= length <= MAX_ITEMS:
            raise TypeError(f"len() of the student's {self._type_name} gave {length!r}")
        return length

    def __iter__(self):
        items = self._ask("iterate")
        if type(items) is not list:
            raise TypeError(f"iterating over the student's {self._type_name} failed")
        return iter(items)

    def __array__(self, dtype=None, copy=None):
        array = self._ask("asarray")
        if not isinstance(array, np.ndarray | np.generic):
            raise TypeError(f"the student's {self._type_name} is not an array of numbers")
        return np.asarray(array, dtype=dtype)

    def __bool__(self):
        return self._ask("bool") is True

    def __str__(self):
        return str(self._ask("str"))

    def __repr__(self):
        return f"<{self._type_name} from the notebook>"

    @property
    def __class__(self):  # obj.__class__.__name__ names the student's type (type(obj) stays Remote)
        return type(self._type_name, (), {"__module__": "notebook"})

    def _operator(name):
        def apply(self, other):
            return self._ask("operator", name=name, key=other)

        return apply

    for _name in "truediv rtruediv add radd sub rsub mul rmul matmul lt le gt ge".split():
        locals()[f"__{_name}__"] = _operator(_name)
    del _name, _operator

    def call_counting(self, spied: str, *args, **kwargs):
        """Call, counting the calls it makes to the notebook's ``spied``: {"result": ..., "calls": [shapes]}."""
        return self._ask("call", args=list(args), kwargs=kwargs, spy=spied)


def remote_type(obj, *args):
    """``type`` for the tests: a :class:`Remote` gives a stand-in class with the student's type name."""
    if args:
        return type(obj, *args)
    return obj.__class__ if type(obj) is Remote else type(obj)


def remote_isinstance(obj, classinfo) -> bool:
    """``isinstance`` for the tests: a :class:`Remote` is an instance of the classes its type derives from."""
    if type(obj) is not Remote:
        return isinstance(obj, classinfo)
    classes = classinfo if isinstance(classinfo, tuple) else (classinfo,)
    mro = object.__getattribute__(obj, "_mro")
    return any(f"{c.__module__}.{c.__qualname__}" in mro for c in classes if isinstance(c, type))


# ------------------------------------------------------------------------------------------------
# Plain data across the boundary


def _encode(value, arrays: dict, depth: int = 0):
    """Grader -> kernel: plain data, arrays into ``arrays``, Remote as its handle."""
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if depth > 32:
        raise TypeError("arguments nested too deeply for the student's kernel")
    if kind is Remote:
        return {"$handle": object.__getattribute__(value, "_handle")}
    if callable(value) and type(getattr(value, "kernel_source", None)) is str:
        return {"$function": value.kernel_source, "values": _encode(value.kernel_values, arrays, depth + 1)}
    if isinstance(value, np.ndarray | np.generic):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"$nd": key, "scalar": isinstance(value, np.generic)}
    if kind in (list, tuple):
        items = [_encode(item, arrays, depth + 1) for item in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        return {
            "$dict": [
                [_encode(k, arrays, depth + 1), _encode(v, arrays, depth + 1)] for k, v in value.items()
            ]
        }
    raise TypeError(f"a {kind.__name__} cannot be sent to the student's kernel (plain data only)")


def _decode(value, arrays, link, depth: int = 0):
    """Kernel -> grader: only the shapes :func:`_encode` makes; anything else is refused."""
    if depth > 64:
        raise ValueError("answer nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        if len(value) > MAX_ITEMS:
            raise ValueError("answer too long")
        return [_decode(item, arrays, link, depth + 1) for item in value]
    if type(value) is dict and len(value) <= 4:
        if "$nd" in value and value["$nd"] in arrays:
            array = arrays[value["$nd"]]
            if array.dtype.kind not in "biufcSUmM":
                raise ValueError(f"refused an array of dtype {array.dtype}")
            return array[()] if value.get("scalar") is True else array
        if type(value.get("$tuple")) is list:
            return tuple(_decode(value["$tuple"], arrays, link, depth + 1))
        if type(value.get("$dict")) is list:
            pairs = [_decode(pair, arrays, link, depth + 1) for pair in value["$dict"]]
            if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
                raise ValueError("malformed dict in the answer")
            return dict(pairs)
        mro = value.get("mro", [])
        if type(value.get("$handle")) is int and type(value.get("name")) is str and type(mro) is list:
            number = value["$handle"]
            if number not in link.remotes:  # the same object in the kernel is the same Remote here
                link.remotes[number] = Remote(
                    link, number, value["name"][:200], tuple(str(m)[:300] for m in mro[:64])
                )
            return link.remotes[number]
    raise ValueError("the answer is not plain data")


def _read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file the kernel wrote (never through a link), or None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            raise ValueError(f"the answer file is not a regular file under {limit:,} bytes")
        return handle.read(limit + 1)


class KernelLink:
    """Requests to one student's kernel, through a client of its own (the kernel serves several)."""

    def __init__(self, connection_file: str, folder: Path):
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=connection_file)
        self.client.load_connection_file()
        self.client.start_channels()
        self.folder, self.count, self.budget, self.timed_out = folder, 0, 0.0, False
        self.remotes: dict[int, Remote] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def ask(self, base: str) -> None:
        """Have the kernel answer the request in ``base.json``; return once it replied. The cell's time
        limit (``budget``, seconds) counts the time the kernel takes, not the grader's own work."""
        msg_id = self.client.execute(
            f"_autograder_rpc({base!r})",
            silent=True,
            store_history=False,
            allow_stdin=False,
            stop_on_error=False,
        )
        interrupted, started = False, time.monotonic()
        deadline = started + self.budget
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted:
                    raise KernelGone("the kernel did not respond to an interrupt after the cell timeout")
                # the kernelspec's interrupt_mode is "message": the kernel interrupts itself
                self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))
                deadline, interrupted, self.timed_out = time.monotonic() + 10, True, True
                continue
            try:
                reply = self.client.get_shell_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not self.client.is_alive():
                    raise KernelGone(
                        "the kernel died (a crash, os._exit, a signal, or the memory limit)"
                    ) from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                self.budget -= time.monotonic() - started
                return

    def close(self) -> None:
        self.client.stop_channels()

    def request(self, request: dict):
        self.count += 1
        base = self.folder / f"rpc{self.count}"
        arrays: dict = {}
        for key in ("args", "kwargs", "key"):
            if key in request:
                request[key] = _encode(request[key], arrays)
        if arrays:
            np.savez(base.with_suffix(".npz"), **arrays)
        base.with_suffix(".json").write_text(json.dumps(request), encoding="utf-8")
        self.ask(str(base))
        reply = _read_regular(Path(f"{base}.out.json"), MAX_ANSWER_BYTES)
        if reply is None:
            raise StudentCodeError("the notebook did not answer the grader (was _autograder_rpc replaced?)")
        out_arrays = {}
        packed = _read_regular(Path(f"{base}.out.npz"), MAX_ANSWER_BYTES)
        if packed is not None:
            with np.load(io.BytesIO(packed), allow_pickle=False) as stored:
                out_arrays = {key: stored[key] for key in stored.files}
        try:
            message = json.loads(reply)
        except (ValueError, RecursionError) as error:
            raise StudentCodeError(f"unreadable answer from the notebook: {error}") from None
        if type(message) is dict and type(message.get("error")) is dict:
            name = str(message["error"].get("type", "Exception"))[:100]
            text = str(message["error"].get("message", ""))[:4000]
            if name in ("KeyboardInterrupt",):
                raise TimeoutError("interrupted: the cell ran past its time limit")
            if _is_builtin_exception(name):
                raise getattr(builtins, name)(text)
            raise StudentCodeError(f"{name}: {text}")
        if type(message) is not dict or "ok" not in message:
            raise StudentCodeError("malformed answer from the notebook")
        return _decode(message["ok"], out_arrays, self)


# ------------------------------------------------------------------------------------------------
# The grader's namespace and one test cell


def _python_source(source: str) -> str:
    return TransformerManager().transform_cell(source)


class GraderNamespace(dict):
    """Globals of the tests: what is not defined here is looked up in the student's kernel."""

    def __init__(self, link_getter, deferred_imports: dict):
        super().__init__()
        self._link_getter = link_getter
        self._deferred = deferred_imports  # name -> import statement, run on first use
        self._remote_cache: dict = {}

    def __missing__(self, name):
        if name in self._deferred:
            exec(self._deferred.pop(name), self)  # noqa: S102 - the course's own import statement
            return dict.__getitem__(self, name)
        if hasattr(builtins, name):
            return getattr(builtins, name)
        if name not in self._remote_cache:
            try:
                self._remote_cache[name] = self._link_getter().request({"op": "get", "name": name})
            except NameError:
                raise KeyError(name) from None
        return self._remote_cache[name]


def grader_prelude(cells) -> tuple[dict, list[str]]:
    """From the course's locked cells: deferred imports and literal constants; sources of ``grader`` cells."""
    import ast

    imports, constants, grader_cells = {}, {}, []
    for cell in cells:
        meta = cell.get("metadata", {})
        nbgrader = meta.get("nbgrader", {})
        if cell.get("cell_type") != "code" or not nbgrader.get("locked") or nbgrader.get("grade"):
            continue
        if "grader" in meta.get("tags", []):
            grader_cells.append(cell["source"])
            continue
        try:
            tree = ast.parse(_python_source(cell["source"]))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    single = type(node)(**{**node.__dict__, "names": [alias]})
                    imports[bound] = ast.unparse(single)
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                for target in node.targets:
                    constants[target.id] = value
    return {"imports": imports, "constants": constants}, grader_cells


def _visible_lines(source: str) -> set[int]:
    visible, hidden = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            hidden = True
        if not hidden:
            visible.add(number)
        if HIDDEN_END in line:
            hidden = False
    return visible


def error_output(error: BaseException, source: str, filename: str) -> dict:
    """An nbformat error output: the test's own lines (never hidden ones) and the message."""
    visible = _visible_lines(source)
    lines = source.splitlines()
    shown = [
        f"  line {frame.lineno}: {lines[frame.lineno - 1].strip()}"
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == filename and frame.lineno in visible and frame.lineno <= len(lines)
    ]
    ename = type(error).__name__
    evalue = str(error)[:20_000]
    header = "Test failed (the test ran in the grader, outside your notebook):"
    return {
        "output_type": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [header, *shown[-3:], f"{ename}: {evalue}"],
    }


class OutsideRunner:
    """Runs test cells in one grader namespace; the kernel link is made when a test first needs it."""

    def __init__(self, cells, link_factory):
        self.link_factory = link_factory
        self.link = None
        prelude, self.grader_cells = grader_prelude(cells)
        self.namespace = GraderNamespace(self._link, dict(prelude["imports"]))
        self.namespace.update(prelude["constants"])
        self.started, self.budget = False, 0.0

    def _link(self):
        if self.link is None:
            self.link = self.link_factory()
            self.link.budget = self.budget
        return self.link

    def run(self, source: str, name: str) -> list[dict]:
        """Outputs of one test cell: what it printed, and an error output if it raised."""
        printed = io.StringIO()
        namespace = self.namespace
        namespace["print"] = lambda *args, **kwargs: builtins.print(*args, **{**kwargs, "file": printed})
        namespace["type"], namespace["isinstance"] = remote_type, remote_isinstance
        namespace._remote_cache.clear()
        outputs, filename = [], f"<test {name}>"
        try:
            if not self.started:
                self.started = True
                for number, cell_source in enumerate(self.grader_cells):
                    exec(compile(_python_source(cell_source), f"<grader cell {number}>", "exec"), namespace)  # noqa: S102
            exec(compile(_python_source(source), filename, "exec"), namespace)  # noqa: S102
        except KernelGone:
            raise
        except BaseException as error:  # noqa: BLE001 - a failing test is a result
            if printed.getvalue():
                outputs.append({"output_type": "stream", "name": "stdout", "text": printed.getvalue()})
            outputs.append(error_output(error, source, filename))
            return outputs
        if printed.getvalue():
            outputs.append({"output_type": "stream", "name": "stdout", "text": printed.getvalue()})
        return outputs


class VerdictServer:
    """In the grader's main process: runs the test cells of every student being graded.

    Each ``nbgrader autograde`` process (``GuardedExecute``) connects once per notebook, sends the
    notebook's cells and its kernel's connection file, then one message per test cell, and gets the
    cell's outputs back (or ``{"gone": reason}`` for a dead kernel). So the references' libraries
    (Keras) are imported once per run instead of once per student. The socket lives in a private
    folder of this process, outside every sandbox (whose ``/tmp`` is its own)."""

    def __init__(self):
        from multiprocessing.connection import Listener

        self.folder = Path(tempfile.mkdtemp(prefix="agv-"))
        self.key = secrets.token_hex(32)
        self.listener = Listener(
            str(self.folder / "socket"), family="AF_UNIX", authkey=bytes.fromhex(self.key)
        )
        self.address = self.listener.address
        threading.Thread(target=self._accept, daemon=True, name="verdicts").start()
        atexit.register(self.close)  # a process that never closes it (a test run) leaves no folder

    def _accept(self) -> None:
        while True:
            try:
                connection = self.listener.accept()
            except OSError:
                return  # closed
            except Exception:  # noqa: BLE001 - a failed handshake is that client's problem
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True, name="verdict").start()

    def _serve(self, connection) -> None:
        runner = None
        try:
            while True:
                message = connection.recv()
                if message["op"] == "open":
                    link = functools.partial(KernelLink, message["connection_file"], Path(message["rpc_dir"]))
                    runner = OutsideRunner(message["cells"], link)
                    continue
                if runner.link is not None:
                    runner.link.budget, runner.link.timed_out = message["timeout"], False
                runner.budget = message["timeout"]
                try:
                    outputs = runner.run(message["source"], message["name"])
                    timed_out = runner.link is not None and runner.link.timed_out
                    connection.send({"outputs": outputs, "timed_out": timed_out})
                except KernelGone as error:
                    connection.send({"gone": str(error)})
        except (EOFError, OSError):
            pass
        finally:
            if runner is not None and runner.link is not None:
                runner.link.close()
            connection.close()

    def close(self) -> None:
        global _SERVER
        self.listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        if _SERVER is self:
            _SERVER = None


_SERVER: VerdictServer | None = None


def start_verdict_server() -> VerdictServer:
    """Start this process's :class:`VerdictServer`. The tests' references use Keras: it is loaded
    here, once, quietly and in the main thread (a thread still importing TensorFlow when the process
    exits, for example on Ctrl-C, keeps it from exiting)."""
    global _SERVER
    if _SERVER is None:  # once per process (a Dask worker grades many students)
        import_tensorflow_quietly()
        _SERVER = VerdictServer()
    return _SERVER


def verdict_server() -> VerdictServer:
    """The process's :class:`VerdictServer` (see :func:`start_verdict_server`)."""
    if _SERVER is None:
        raise RuntimeError("no VerdictServer: grade() starts one before the workers")
    return _SERVER
