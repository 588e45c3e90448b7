"""Load the from-scratch implementations of a book chapter, so tests check the code readers see.

Cells tagged ``chapter-code`` in a MyST chapter hold its reusable definitions (functions, classes).
:func:`load_chapter_code` executes just those cells, in order, in a fresh namespace with NumPy
imported as ``np``, and returns that namespace. One source: the chapter is what is tested.
"""

from pathlib import Path

import jupytext

BOOK_DIR = Path(__file__).resolve().parent.parent / "book"
TAG = "chapter-code"


def load_chapter_code(relative_path: str) -> dict:
    """Execute the ``chapter-code`` cells of ``book/<relative_path>``; return their namespace."""
    path = BOOK_DIR / relative_path
    notebook = jupytext.read(path)
    cells = [c for c in notebook.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    assert cells, f"{relative_path} has no cell tagged {TAG!r}"
    import numpy as np

    namespace = {"np": np, "__name__": f"chapter:{relative_path}"}
    for cell in cells:
        exec(compile(cell.source, f"{path}:{cell.get('id', '?')}", "exec"), namespace)
    return namespace
