"""``glue``: store a value computed by a cell so that the book's prose can show it, without ``myst_nb``.

Every number in the prose of the book comes from an executed cell: the cell calls
``glue("name", value)`` and the text writes ``{glue:text}`name:.2f``` (or ``{glue:md}``). The book
build (myst-nb) reads the stored value back from the cell's outputs. ``myst_nb.glue`` does the same,
but myst-nb is a book-building tool that students on Colab or in their own Jupyter do not have;
this helper emits exactly the display message that ``myst_nb.glue`` emits, so the book build
cannot tell them apart, and needs nothing but IPython.

In a notebook the stored value is invisible (``display=False``, as every page uses it); with
``display=True`` it is shown as well.
"""

from typing import Any

#: The MIME-type prefix under which myst-nb (like papermill and scrapbook before it) finds glued data.
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value``'s display representations under ``name``, for ``{glue:...}`` roles of the page.

    Args:
        name: the key that the prose names (``{glue:text}`name```); unique within a page.
        value: any object: a number, a string, ``IPython.display.Markdown``, a Matplotlib figure...
            What is stored is what Jupyter would display for it (its MIME bundle), not the object;
            a NumPy scalar is stored as the Python number it holds.
        display: also show the value in the notebook (default: store it only).
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipython_display

    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        # a NumPy scalar (np.float64(0.5)) would be stored as its repr, which {glue:text}`x:.2f` cannot format
        value = value.item()
    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display({prefix + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)
