"""One figure style for every chapter."""

COURSE_STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
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
