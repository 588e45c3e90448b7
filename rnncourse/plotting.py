"""One figure style for every chapter."""

#: Figures are made for the book's column (about 690 px at 1280 px): 7 inches at 100 dpi fill it at their
#: natural size, and 12-point text stays legible in figures up to 10 inches wide, scaled to the column
#: (tests/test_browser.py measures both).
COURSE_STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "font.size": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "legend.frameon": False,
}


def use_course_style() -> None:
    """Apply the course's Matplotlib style to every figure made afterwards."""
    import matplotlib.pyplot as plt

    plt.rcParams.update(COURSE_STYLE)


def label_epochs(ax, label: str = "epoch") -> None:
    """Name the x axis of a per-epoch plot and tick it at whole epochs only (never 1.5)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
