"""Sphinx extension: the download button's ``.ipynb`` reads as a plain Jupyter notebook.

Jupyter Book offers each page's executed notebook for download (``_sources/<page>.ipynb``); its
Markdown is the page's MyST (``{term}``, ``{glue:text}``, ``:::{admonition}``), which Jupyter shows as
raw text. After the HTML build, each such notebook keeps its code cells and their outputs and takes its
Markdown cells from the page's Colab copy (``book/<page>.ipynb``, written by ``make notebooks``), where
MyST is already turned into plain Markdown. A page whose copy does not line up cell for cell is
reported with a warning (an error under ``-W``): run ``make notebooks``.

Before that, once every page is read, each executed notebook (``jupyter_execute/<page>.ipynb``, which
the download button copies and the tests read) gets its outputs from the execution cache when myst-nb
took them from there: for such a page myst-nb writes the notebook as read, before it merges the cached
outputs in (myst-nb 1.x), so a rebuilt book, or one whose pages ``rnncourse.execute_book`` executed
ahead, would offer notebooks without outputs.
"""

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def outputs_from_the_cache(app, env) -> None:
    """Merge the cached outputs into every executed notebook that myst-nb wrote without them."""
    config = env.mystnb_config
    if config.execution_mode != "cache" or not config.output_folder:
        return
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(config.execution_cache_path)
    for path in sorted(Path(config.output_folder).rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        if not code or any(cell.get("execution_count") is not None for cell in code):
            continue  # executed in this build, or nothing to execute
        try:
            _, merged = cache.merge_match_into_notebook(notebook)
        except KeyError:
            continue  # not in the cache: the build reported its failure
        nbformat.write(merged, path)


def plain_markdown_downloads(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    sources = Path(app.outdir) / "_sources"
    for docname in sorted(app.env.found_docs):
        copy, download = Path(app.srcdir) / f"{docname}.ipynb", sources / f"{docname}.ipynb"
        if not (copy.is_file() and download.is_file()):
            continue
        executed = nbformat.read(download, as_version=4)
        plain = nbformat.read(copy, as_version=4)
        if [cell.cell_type for cell in executed.cells] != [cell.cell_type for cell in plain.cells]:
            logger.warning(f"{docname}.ipynb does not match its page cell for cell: run `make notebooks`")
            continue
        for cell, plain_cell in zip(executed.cells, plain.cells, strict=True):
            if cell.cell_type == "markdown":
                cell.source = plain_cell.source
        executed.metadata.pop("source_map", None)
        nbformat.write(executed, download)


def setup(app):
    app.connect("env-updated", outputs_from_the_cache)
    app.connect("build-finished", plain_markdown_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
