"""Sphinx extension: the download button's ``.ipynb`` reads as a plain Jupyter notebook.

Jupyter Book offers each page's executed notebook for download (``_sources/<page>.ipynb``); its
Markdown is the page's MyST (``{term}``, ``{glue:text}``, ``:::{admonition}``), which Jupyter shows as
raw text. After the HTML build, each such notebook keeps its code cells and their outputs and takes its
Markdown cells from the page's Colab copy (``book/<page>.ipynb``, written by ``make notebooks``), where
MyST is already turned into plain Markdown. A page whose copy does not line up cell for cell is
reported with a warning (an error under ``-W``): run ``make notebooks``.
"""

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


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
    app.connect("build-finished", plain_markdown_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
