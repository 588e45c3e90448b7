"""Time the lab notebooks and the Part III chapters (which train): execute each one (jupytext -> nbclient) and print its wall time and the total.

Usage, from the repository root::

    .venv/bin/python benchmarks/lab_times.py --quick          # quick mode (COURSE_QUICK=1), under 90 s a lab
    .venv/bin/python benchmarks/lab_times.py                  # full mode: the settings of the built book
    .venv/bin/python benchmarks/lab_times.py --quick book/labs/reuters.md   # some pages only
    .venv/bin/python benchmarks/lab_times.py --from-cache     # no run: the times of the last `make book`

``--from-cache [DIR]`` reads the execution times that Jupyter Book's execution cache recorded for the
pages (default ``_build/.jupyter_cache``, where ``make book`` keeps it; a build with ``--path-output X``
keeps it in ``X/_build/.jupyter_cache``), so the full-mode time per lab is printed without training
anything again. A page executed at every build (the model comparison) is not in the cache.

Pages run in sorted path order (Part III's chapters, the labs, then the model comparison, which reads
the labs' results), each in a
fresh kernel, in the page's folder. ``--save DIR`` keeps the executed notebooks (``.ipynb``) there.
A page that fails is reported and the script exits with status 1 after timing the others.
The machine's 1-minute load average is printed after each page: on a shared CPU a load above the
number of cores means the times are inflated by other work.
"""

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGES = sorted(
    [
        *REPO_ROOT.glob("book/generative/*.md"),
        *REPO_ROOT.glob("book/labs/*.md"),
        *REPO_ROOT.glob("book/results/*.md"),
    ]
)


def load_average() -> str:
    """The 1-minute load average, or "?" where the platform has none (Windows)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "?"


def run_page(path: Path, timeout: int, save_dir: Path | None) -> float:
    """Execute one MyST notebook in a fresh kernel; return its wall time in seconds."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, save_dir / f"{path.stem}.ipynb")
    return time.perf_counter() - start


def cached_times(cache_dir: Path, pages) -> dict:
    """Page -> execution seconds recorded by jupyter-cache (pages without a record are left out)."""
    from jupyter_cache import get_cache

    wanted = {str(page.resolve()) for page in pages}
    return {
        Path(record.uri): float(record.data.get("execution_seconds", float("nan")))
        for record in get_cache(str(cache_dir)).list_cache_records()
        if record.uri in wanted
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages", nargs="*", type=Path, help="MyST pages (default: book/labs/*.md, book/results/*.md)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="quick mode (COURSE_QUICK=1); default: full mode"
    )
    parser.add_argument(
        "--timeout", type=int, default=3600, help="seconds per cell (default 3600, as _config.yml)"
    )
    parser.add_argument("--save", type=Path, help="folder for the executed notebooks")
    parser.add_argument(
        "--from-cache",
        nargs="?",
        type=Path,
        const=REPO_ROOT / "_build" / ".jupyter_cache",
        help="print the times recorded by the last book build (default _build/.jupyter_cache); run nothing",
    )
    args = parser.parse_args(argv)
    if args.from_cache is not None:
        pages = sorted(p.resolve() for p in args.pages) if args.pages else DEFAULT_PAGES
        if not (args.from_cache / "global.db").is_file():
            print(
                f"no execution cache in {args.from_cache}: build the book first (make book)", file=sys.stderr
            )
            return 1
        times = cached_times(args.from_cache, pages)
        for page in pages:
            name = page.relative_to(REPO_ROOT) if page.is_relative_to(REPO_ROOT) else page
            shown = f"{times[page]:8.1f} s" if page in times else "  (not in the cache)"
            print(f"{str(name):<45} {shown}")
        total = sum(times.values())
        print(f"{'total':<45} {total:8.1f} s  ({total / 60:.1f} min)")
        return 0

    os.environ["COURSE_QUICK"] = "1" if args.quick else "0"
    pages = sorted(p.resolve() for p in args.pages) if args.pages else DEFAULT_PAGES
    mode = "quick" if args.quick else "full"
    print(f"{mode} mode, {len(pages)} pages, {os.cpu_count()} CPU cores", flush=True)
    total, failed = 0.0, []
    for page in pages:
        name = page.relative_to(REPO_ROOT) if page.is_relative_to(REPO_ROOT) else page
        start = time.perf_counter()
        try:
            seconds = run_page(page, args.timeout, args.save)
            status = "ok"
        except Exception as error:  # report, time the rest, fail at the end
            seconds = time.perf_counter() - start
            status = f"FAILED: {type(error).__name__}: {str(error).strip().splitlines()[-1][:200]}"
            failed.append(str(name))
        total += seconds
        print(f"{str(name):<45} {seconds:8.1f} s  load {load_average()}  {status}", flush=True)
    print(f"{'total':<45} {total:8.1f} s  ({total / 60:.1f} min)")
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
