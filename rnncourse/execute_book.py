"""Execute the book's pages into Jupyter Book's execution cache, several at a time (a maintainers' tool).

    python -m rnncourse.execute_book [--path-output _build/quick] [--jobs N] [--book .] [--toc _toc.yml]

``jupyter-book build`` (``execute_notebooks: cache`` in ``_config.yml``) executes the pages one after
another, while it reads them: a quick build keeps one core busy however many the machine has. This
command executes, ``--jobs`` at a time, every page whose code is not in the build's cache yet, with
what myst-nb uses for it (the page read by myst-nb's MyST reader, jupyter-cache's
``single_nb_execution``, the page's folder as working directory, ``_config.yml``'s timeout and
``allow_errors``), and stores each in the same cache under the same key. The build that follows finds
every page there and executes none, as on a second build. A page that fails is not stored: the
build executes it again and reports the error as usual.

A page that reads what other pages record (``load_results``: the model comparison) runs after all the
others, as it does in the build, which follows the table of contents.

``make book-quick`` uses it, so that a machine's cores share the pages (one page keeps about one core
busy). ``make book`` does not: its pages time their epochs, and two pages at
once would slow each other's. Nor does the tests' quick build (``tests/book_build.py``): on CI's two
cores, which the grading runs already share with it, executing two pages at a time made the whole
run longer (23 min 39 s against 22 min 25 s, and 2.4 more CPU-minutes, fresh clone, 2 cores).
"""

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Pages that contain this run after every other page (they read the other pages' records).
READS_OTHER_PAGES = "load_results("


def toc_entries(toc: Path = REPO_ROOT / "_toc.yml") -> list[str]:
    """Every page of a Jupyter Book table of contents (root first, reading order), without extension."""
    import yaml

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    yield node[key]
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    yield from walk(child)

    return list(walk(yaml.safe_load(toc.read_text(encoding="utf-8"))))


def toc_files(toc: Path, book: Path = REPO_ROOT) -> list[Path]:
    """The pages' files (``.md`` assumed; entries are relative to the book's folder, wherever the table
    of contents is)."""
    return [book / f"{entry}.md" for entry in toc_entries(toc)]


def book_settings(config_path: Path) -> dict:
    """What myst-nb takes from ``_config.yml`` to read and execute a page."""
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    execute = config.get("execute", {})
    return {
        "timeout": execute.get("timeout", 30),
        "allow_errors": execute.get("allow_errors", False),
        "run_in_temp": execute.get("run_in_temp", False),
        "extensions": config.get("parse", {}).get("myst_enable_extensions", []),
    }


def read_page(path: Path, extensions):
    """The page as myst-nb reads it (None: a Markdown page without code)."""
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    text = path.read_text(encoding="utf-8")
    if not is_myst_markdown_notebook(text):
        return None
    config = MdParserConfig(enable_extensions=set(extensions))
    return read_myst_markdown_notebook(text, config=config, add_source_map=True, path=str(path))


def execute_page(path: str, settings: dict) -> tuple[str, dict | None, float, str]:
    """Run in a worker process: (path, executed notebook or None, seconds, error text)."""
    import tempfile

    from jupyter_cache.executors.utils import single_nb_execution

    notebook = read_page(Path(path), settings["extensions"])
    options = {
        "allow_errors": settings["allow_errors"],
        "timeout": settings["timeout"],
        "meta_override": True,
    }
    if settings["run_in_temp"]:
        with tempfile.TemporaryDirectory() as cwd:
            result = single_nb_execution(notebook, cwd=cwd, **options)
    else:
        result = single_nb_execution(notebook, cwd=str(Path(path).parent.resolve()), **options)
    if result.err is not None:
        return path, None, result.time, f"{type(result.err).__name__}: {result.err}"
    return path, notebook, result.time, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", default=str(REPO_ROOT), help="the book's folder (default: this repository)")
    parser.add_argument(
        "--path-output", help="the folder given to jupyter-book build --path-output (default: the book's)"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="pages at once (default: cores)"
    )
    parser.add_argument("--toc", help="table of contents (default: the book's _toc.yml)")
    parser.add_argument("--config", help="book configuration (default: the book's _config.yml)")
    args = parser.parse_args(argv)
    book = Path(args.book).resolve()

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    settings = book_settings(Path(args.config or book / "_config.yml"))
    cache = get_cache(str(Path(args.path_output or book).resolve() / "_build" / ".jupyter_cache"))
    first, last = [], []
    for path in toc_files(Path(args.toc or book / "_toc.yml").resolve(), book):
        notebook = read_page(path, settings["extensions"])
        if notebook is None:
            continue
        try:
            cache.match_cache_notebook(notebook)
            continue  # executed already, with this code
        except KeyError:
            pass
        (last if READS_OTHER_PAGES in path.read_text(encoding="utf-8") else first).append(path)
    print(f"execute_book: {len(first) + len(last)} page(s) to execute, {args.jobs} at a time", flush=True)
    started, failed = time.perf_counter(), 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=get_context("spawn")) as pool:
        for batch in (first, last):
            futures = [pool.submit(execute_page, str(path), settings) for path in batch]
            for future in as_completed(futures):
                path, executed, seconds, error = future.result()
                name = os.path.relpath(path, book)
                if executed is None:
                    failed += 1
                    print(
                        f"  {name}: failed after {seconds:.0f} s ({error}); the build runs it again",
                        flush=True,
                    )
                    continue
                cache.cache_notebook_bundle(
                    CacheBundleIn(executed, str(Path(path).resolve()), data={"execution_seconds": seconds}),
                    check_validity=False,
                    overwrite=True,
                )
                print(f"  {name}: {seconds:.0f} s", flush=True)
    print(f"execute_book: done in {time.perf_counter() - started:.0f} s, {failed} failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
