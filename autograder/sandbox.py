"""Run a submission's Jupyter kernel inside a bubblewrap sandbox, with resource limits.

nbgrader starts kernels from a kernelspec. The grader writes, for every student, a kernelspec whose
``argv`` is this module::

    python -m autograder.sandbox SANDBOX.json {connection_file} [extra kernel arguments]

This small launcher (standard library only, it runs outside the sandbox) reads ``SANDBOX.json``
(written by the grader for that student), applies the memory cap (``RLIMIT_AS``, inherited by
everything the kernel starts), and replaces itself with ``bwrap ... python -m ipykernel_launcher``.

Inside the sandbox the kernel sees a minimal, read-only system (``/usr``, a few ``/etc`` files, the
Python installation, the virtual environment, the course helper package, the course datasets), a
private ``/tmp`` and ``$HOME`` (tmpfs), its own PID/IPC/UTS/network namespaces (no network at all,
not even to the grader: the kernel talks to nbgrader over ZeroMQ *ipc* sockets, which are files in
a per-student runtime folder), no capabilities, and exactly one writable folder: the student's
autograded copy of the assignment (its working directory), in which the notebook being executed
(hidden tests restored by nbgrader) is masked and cannot be read. Other students, ``solutions/``, the
gradebook and the grading output do not exist in that view.

Without ``bwrap`` (or when ``SANDBOX.json`` says ``"sandbox": false``) the launcher still applies
the memory cap and runs the kernel directly: grading works, unsandboxed, and the grader says so.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

KERNEL_NAME = "autograder-sandbox"
# Environment variables the kernel may see (everything else is cleared inside the sandbox).
PASSED_ENV_PREFIXES = ("COURSE_", "TF_", "KERAS_", "NBGRADER_", "OMP_", "MKL_", "OPENBLAS_", "LC_")
PASSED_ENV_NAMES = "LANG PYTHONHASHSEED TZ MPLBACKEND PYDEVD_DISABLE_FILE_VALIDATION MALLOC_ARENA_MAX".split()
# The few /etc files a Python/TensorFlow/Matplotlib kernel needs (no shadow, no ssh keys, no pip.conf).
ETC_FILES = [
    f"/etc/{name}"
    for name in "ld.so.cache ld.so.conf ld.so.conf.d localtime passwd group nsswitch.conf hosts host.conf "
    "fonts ssl ca-certificates alternatives mime.types".split()
]
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/opt")


@lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None if bubblewrap works here; otherwise why not (missing, or not allowed to make namespaces)."""
    executable = shutil.which("bwrap")
    if executable is None:
        return "bwrap (Debian package bubblewrap) is not installed"
    try:
        probe = subprocess.run(
            [
                executable,
                *"--ro-bind / / --dev /dev --proc /proc --unshare-all --die-with-parent true".split(),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap failed to start ({error})"
    if probe.returncode != 0:
        return f"bwrap cannot create a sandbox here: {probe.stderr.strip()[:200]}"
    return None


def parse_size(text: str | int | None) -> int:
    """'4G', '512M', '1500000000' -> bytes; 0, '0', 'none', None -> 0 (no limit)."""
    if text is None:
        return 0
    if isinstance(text, int):
        return text
    value = text.strip().lower()
    if value in ("", "0", "none", "off"):
        return 0
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    value = value.removesuffix("ib").removesuffix("b")
    if value[-1] in units:
        return int(float(value[:-1]) * units[value[-1]])
    return int(value)


def format_size(size: int) -> str:
    if not size:
        return "none"
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


def python_read_only_paths() -> list[str]:
    """The Python installation, the virtual environment and the editable course package."""
    paths = {sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent.parent)}
    try:
        import importlib.util

        spec = importlib.util.find_spec("rnncourse")
        if spec is not None and spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
    except (ImportError, ValueError):
        pass
    return sorted(p for p in paths if p and os.path.exists(p))


def data_read_only_paths() -> list[str]:
    """The course's dataset folder (what ``rnncourse.setup()`` seeds Keras' cache from), if any."""
    try:
        from rnncourse.data import find_source_dir

        source = find_source_dir()
    except Exception:  # noqa: BLE001 - no dataset folder is fine for the sandbox
        return []
    return [str(source.resolve())] if source is not None and source.is_dir() else []


def sandbox_settings(
    *, sandbox: bool, memory_bytes: int, runtime_dir: Path, extra_read_only: list[str] | None = None
) -> dict:
    """What the launcher needs, computed once by the grader (it imports rnncourse; the launcher does not)."""
    return {
        "sandbox": sandbox,
        "memory_bytes": memory_bytes,
        "python": sys.executable,
        "read_only": python_read_only_paths() + data_read_only_paths() + list(extra_read_only or []),
        "data_dir": (data_read_only_paths() or [None])[0],
        "runtime_dir": str(runtime_dir),
    }


def write_kernelspec(jupyter_dir: Path, settings_path: Path) -> None:
    """``jupyter_dir/kernels/autograder-sandbox/kernel.json`` starting the kernel through this module."""
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "autograder.sandbox", str(settings_path), "{connection_file}"],
        "display_name": "Python 3 (autograder sandbox)",
        "language": "python",
        # SIGINT sent from outside would reach bwrap, not the kernel: ask the kernel to interrupt itself.
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")


def _system_binds() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    return args


def bwrap_command(settings: dict, cwd: str, kernel_argv: list[str]) -> list[str]:
    """The full bwrap command line that runs ``kernel_argv`` for one student's kernel."""
    namespaces = "--unshare-pid --unshare-ipc --unshare-uts --unshare-net --unshare-cgroup-try"
    args = ["bwrap", "--die-with-parent", "--new-session", *namespaces.split(), "--hostname", "sandbox"]
    args += ["--cap-drop", "ALL", *_system_binds(), "--dev", "/dev", "--proc", "/proc"]
    args += ["--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for path in settings["read_only"]:
        args += ["--ro-bind", path, path]
    runtime = settings["runtime_dir"]
    args += ["--bind", runtime, runtime, "--bind", cwd, cwd, "--chdir", cwd]
    # nbgrader writes the notebook it executes (hidden tests restored) into the kernel's working
    # folder before running it: mask it (a bind of /dev/null; reading it fails with PermissionError),
    # so code cannot read the hidden tests.
    for notebook in sorted(Path(cwd).glob("*.ipynb")):
        args += ["--ro-bind", "/dev/null", str(notebook)]
    args += ["--clearenv", "--setenv", "HOME", "/tmp/home", "--setenv", "TMPDIR", "/tmp"]
    args += ["--setenv", "PATH", f"{Path(settings['python']).parent}:/usr/local/bin:/usr/bin:/bin"]
    args += [
        "--setenv",
        "MPLCONFIGDIR",
        "/tmp/home/.matplotlib",
        "--setenv",
        "KERAS_HOME",
        "/tmp/home/.keras",
    ]
    for name, value in sorted(os.environ.items()):
        if (name.startswith(PASSED_ENV_PREFIXES) or name in PASSED_ENV_NAMES) and name != "KERAS_HOME":
            args += ["--setenv", name, value]
    if settings.get("data_dir"):
        # The kernel sees the dataset folder at its resolved path only: a `../shared` that is a symlink,
        # or a repository under /tmp (a private tmpfs in here), would otherwise hide it from
        # rnncourse.setup(), and Keras would try to download.
        args += ["--setenv", "COURSE_DATA_DIR", settings["data_dir"]]
    return [*args, "--", *kernel_argv]


def launch(settings_path: str, connection_file: str, extra: list[str]) -> None:
    """Apply the limits and exec the (sandboxed) kernel; never returns."""
    settings = json.loads(Path(settings_path).read_text(encoding="utf-8"))
    memory = int(settings.get("memory_bytes") or 0)
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        # glibc reserves 64 MiB of address space per malloc arena, up to 8 per core: bound them so
        # the cap means the same on a 2-core laptop and a 64-core server.
        os.environ.setdefault("MALLOC_ARENA_MAX", "4")
    # A core dump of a 4 GiB kernel helps nobody.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    kernel_argv = [settings["python"], "-m", "ipykernel_launcher", "-f", connection_file, *extra]
    if not any(arg.startswith("--HistoryManager.hist_file") for arg in extra):
        kernel_argv.append("--HistoryManager.hist_file=:memory:")
    if settings.get("startup_file"):  # autograder/kernel_server.py: answers the grader's requests
        kernel_argv.append(f"--IPKernelApp.exec_files=['{settings['startup_file']}']")
    if settings.get("sandbox"):
        command = bwrap_command(settings, os.getcwd(), kernel_argv)
        executable = shutil.which("bwrap") or "bwrap"
    else:
        command, executable = kernel_argv, kernel_argv[0]
    sys.stdout.flush()
    os.execv(executable, command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print(
            "usage: python -m autograder.sandbox SANDBOX.json CONNECTION_FILE [kernel args]", file=sys.stderr
        )
        return 2
    launch(argv[0], argv[1], argv[2:])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
