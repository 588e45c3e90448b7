"""Building blocks for the cell diagrams that chapters draw: one palette, a few primitives.

Each chapter composes its own diagram from these pieces in a (collapsed) code cell, so a reader can
see how the picture is made. What is shared lives here, so that the same gate has the same colour on
every page:

- :data:`PALETTE`: one :class:`Role` (fill colour, wire colour, name) per gate and per kind of vector;
- :func:`new_diagram`: an empty drawing area, in units of half an inch at the book's width;
- :func:`box`, :func:`gate`, :func:`op`, :func:`wire`, :func:`dot`, :func:`label`,
  :func:`block_strip`: boxes, gate boxes, operator circles, arrows, junctions, text, and the strip that
  shows Keras' order of the weight blocks.

Patches carry a ``gid`` (``"gate:i"``, ``"box:x"``, ``"op:+"``, ...) so tests can find them.

The encoder-decoder has no chapter yet, so its whole drawing is here: :func:`draw_encoder_decoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FONT_SIZE = 11  # points; the book's column is about 720 px, figures are 7 in wide at 100 dpi
SMALL_FONT_SIZE = 10  # the smallest text a diagram uses


@dataclass(frozen=True)
class Role:
    """How one kind of element is drawn: ``fill`` for its box, ``line`` for the wires it sends."""

    fill: str
    line: str
    name: str


PALETTE: dict[str, Role] = {
    # gates and candidates: the same colour on every page
    "i": Role("#a5d6a7", "#2e7d32", "input gate"),
    "f": Role("#ef9a9a", "#c62828", "forget gate"),
    "candidate": Role("#ce93d8", "#7b1fa2", "candidate"),
    "o": Role("#90caf9", "#1565c0", "output gate"),
    "r": Role("#80cbc4", "#00695c", "reset gate"),
    "z": Role("#ffcc80", "#e65100", "update gate"),
    # vectors
    "x": Role("#dbe9f6", "#37474f", "input"),
    "h": Role("#fde2c4", "#37474f", "hidden state"),
    "c": Role("#fff59d", "#b8860b", "cell state"),
    "y": Role("#d9f0d3", "#37474f", "output"),
    # directions of a bidirectional layer
    "forward": Role("#bbdefb", "#1565c0", "forward direction"),
    "backward": Role("#f8bbd0", "#ad1457", "backward direction"),
    # the two halves of an encoder-decoder
    "encoder": Role("#bbdefb", "#1565c0", "encoder"),
    "decoder": Role("#f8bbd0", "#ad1457", "decoder"),
    # everything else: weights, activations, operators
    "neutral": Role("#f5f5f5", "#37474f", "operation"),
}

GATE_SYMBOLS = {
    "i": "$i_t$",
    "f": "$f_t$",
    "o": "$o_t$",
    "r": "$r_t$",
    "z": "$z_t$",
}
ACTIVATIONS = {"sigmoid": r"$\sigma$", "tanh": r"$\tanh$"}


def role(name: str) -> Role:
    """The :class:`Role` called ``name``; a KeyError names the known roles."""
    try:
        return PALETTE[name]
    except KeyError:
        raise KeyError(f"unknown role {name!r}; known: {', '.join(PALETTE)}") from None


def new_diagram(width: float = 14.0, height: float = 8.0, figsize=None, ax=None):
    """An empty drawing area with data units of half an inch: ``(fig, ax)``.

    ``width`` by ``height`` units become a ``(width / 2, height / 2)`` inch figure, so a 14-unit-wide
    diagram fills the book's 7-inch column. Pass ``ax`` to draw into an existing axes instead.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (width / 2, height / 2), dpi=100)
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    else:
        fig = ax.figure
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(
    ax,
    xy,
    text="",
    *,
    kind="neutral",
    width=1.2,
    height=0.7,
    fontsize=FONT_SIZE,
    fill=None,
    edgecolor="#263238",
    lw=1.2,
    gid=None,
    **text_kw,
):
    """A rounded box centred on ``xy`` with ``text`` inside, filled with the colour of ``kind``."""
    from matplotlib.patches import FancyBboxPatch

    x, y = xy
    pad = 0.08
    patch = FancyBboxPatch(
        (x - width / 2 + pad, y - height / 2 + pad),
        width - 2 * pad,
        height - 2 * pad,
        boxstyle=f"round,pad={pad}",
        fc=fill or role(kind).fill,
        ec=edgecolor,
        lw=lw,
        zorder=3,
        gid=gid or f"box:{kind}",
    )
    ax.add_patch(patch)
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4, **text_kw)
    return patch


def gate(ax, xy, kind, activation="sigmoid", symbol=None, *, width=1.2, height=1.0):
    """A gate (or candidate) box: its symbol on top, its activation below, in the gate's colour.

    ``kind`` is a key of :data:`PALETTE` (``"i"``, ``"f"``, ``"candidate"``, ``"o"``, ``"r"``, ``"z"``);
    ``symbol`` defaults to the gate's letter with subscript t.
    """
    x, y = xy
    patch = box(ax, xy, kind=kind, width=width, height=height, gid=f"gate:{kind}")
    ax.text(
        x, y + 0.17, symbol or GATE_SYMBOLS[kind], ha="center", va="center", fontsize=FONT_SIZE + 1, zorder=4
    )
    ax.text(
        x, y - 0.22, ACTIVATIONS[activation], ha="center", va="center", fontsize=SMALL_FONT_SIZE, zorder=4
    )
    return patch


def op(ax, xy, symbol, *, radius=0.27, fill="white", edgecolor="#263238", fontsize=FONT_SIZE + 2):
    """An operator circle (``"×"``, ``"+"``, ``"1−"``) centred on ``xy``."""
    from matplotlib.patches import Circle

    patch = Circle(xy, radius, fc=fill, ec=edgecolor, lw=1.2, zorder=3, gid=f"op:{symbol}")
    ax.add_patch(patch)
    size = fontsize if len(symbol) == 1 else SMALL_FONT_SIZE
    ax.text(*xy, symbol, ha="center", va="center", fontsize=size, zorder=4)
    return patch


def wire(ax, points: Sequence, *, color="#37474f", lw=1.4, arrow=True, bridge=False, gid=None):
    """A polyline through ``points`` with an arrowhead at the end (unless ``arrow=False``).

    With ``bridge=True`` the wire is drawn with a white halo, so where it crosses a wire drawn earlier
    the earlier one shows a gap: the two are not connected (a :func:`dot` marks a connection).
    The returned patch keeps the points it was drawn through as ``points``.
    """
    from matplotlib import patheffects
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    effects = [patheffects.withStroke(linewidth=lw + 5, foreground="white")] if bridge else None
    patch = FancyArrowPatch(
        path=Path([tuple(p) for p in points]),
        arrowstyle="-|>,head_length=0.45,head_width=0.22" if arrow else "-",
        mutation_scale=14,
        color=color,
        lw=lw,
        joinstyle="miter",
        capstyle="butt",
        zorder=2.5 if bridge else 2,
        path_effects=effects,
        gid=gid,
    )
    patch.points = tuple(tuple(p) for p in points)
    ax.add_patch(patch)
    return patch


def dot(ax, xy, *, color="#37474f", radius=0.07):
    """A junction: the wires meeting here are connected (the value is copied)."""
    from matplotlib.patches import Circle

    patch = Circle(xy, radius, fc=color, ec=color, zorder=2.6, gid="dot")
    ax.add_patch(patch)
    return patch


def label(ax, xy, text, *, fontsize=FONT_SIZE, ha="center", va="center", **kw):
    """Text at ``xy`` (never smaller than the diagrams' smallest font size)."""
    return ax.text(*xy, text, fontsize=max(fontsize, SMALL_FONT_SIZE), ha=ha, va=va, zorder=4, **kw)


def block_strip(
    ax, xy, kinds, symbols, names=None, *, cell_width=0.75, height=0.5, title="Keras' block order"
):
    """Keras' order of the gate blocks in its weights, as a strip of coloured cells starting at ``xy``.

    ``kinds`` are palette keys and ``symbols`` the labels written in the cells, left to right; with
    ``names`` (default: the palette's names), one line per block below the strip says what it is.
    """
    x0, y0 = xy
    for k, (kind, symbol) in enumerate(zip(kinds, symbols, strict=True)):
        box(
            ax,
            (x0 + (k + 0.5) * cell_width, y0),
            symbol,
            kind=kind,
            width=cell_width - 0.04,
            height=height,
            lw=0.8,
            gid=f"block:{kind}",
        )
    label(ax, (x0, y0 + height / 2 + 0.3), title, fontsize=SMALL_FONT_SIZE, ha="left")
    names = [role(kind).name for kind in kinds] if names is None else names
    for k, (symbol, name) in enumerate(zip(symbols, names, strict=True)):
        line_y = y0 - height / 2 - 0.35 - 0.42 * k
        label(ax, (x0 + 0.05, line_y), f"{symbol}: {name}", fontsize=SMALL_FONT_SIZE, ha="left")


def draw_encoder_decoder(source_length: int = 3, target_length: int = 3, ax=None):
    """The encoder-decoder (sequence-to-sequence) model, drawn unrolled; returns the figure.

    The encoder reads ``x_1 .. x_S`` and keeps only its final state; that state is the decoder's
    initial state. The decoder reads the previous target token (``<start>`` first, then ``y_1``,
    ``y_2``, ...: the true tokens during training, which is teacher forcing, its own previous
    prediction at inference) and emits one prediction per step. With an LSTM the handed-over state is
    the pair ``(h, c)``.
    """
    width, gap = 14.0, 2.6  # the hand-over between the two halves is wider than a step
    step = (width - 1.6 - gap - 0.6) / (source_length + target_length - 1)
    fig, ax = new_diagram(width=width, height=7.4, ax=ax)
    y_in, y_cell, y_out = 1.5, 3.7, 5.8
    encoder, decoder = role("encoder"), role("decoder")

    enc_x = [1.6 + step * k for k in range(source_length)]
    dec_x = [enc_x[-1] + gap + step * k for k in range(target_length)]

    label(ax, (0.35, y_cell), "$0$")
    previous = (0.6, y_cell)
    for k, x in enumerate(enc_x, start=1):
        box(ax, (x, y_in), f"$x_{k}$", kind="x", width=1.1, height=0.7)
        box(ax, (x, y_cell), f"$h^{{e}}_{k}$", kind="encoder", width=1.1, height=0.8)
        wire(ax, [(x, y_in + 0.35), (x, y_cell - 0.4)])
        wire(ax, [previous, (x - 0.55, y_cell)], color=encoder.line)
        previous = (x + 0.55, y_cell)

    inputs = [r"$\langle$start$\rangle$"] + [f"$y_{k}$" for k in range(1, target_length)]
    for k, (x, token) in enumerate(zip(dec_x, inputs, strict=True), start=1):
        box(ax, (x, y_in), token, kind="y", width=1.3, height=0.7, fontsize=SMALL_FONT_SIZE)
        box(ax, (x, y_cell), f"$h^{{d}}_{k}$", kind="decoder", width=1.1, height=0.8)
        box(ax, (x, y_out), f"$\\hat y_{k}$", kind="y", width=1.1, height=0.7)
        wire(ax, [(x, y_in + 0.35), (x, y_cell - 0.4)])
        wire(ax, [(x, y_cell + 0.4), (x, y_out - 0.35)])
        if k > 1:
            wire(ax, [previous, (x - 0.55, y_cell)], color=decoder.line)
        previous = (x + 0.55, y_cell)

    # the hand-over: the encoder's final state is the decoder's initial state
    wire(ax, [(enc_x[-1] + 0.55, y_cell), (dec_x[0] - 0.55, y_cell)], color=encoder.line, lw=2.8)
    label(
        ax,
        ((enc_x[-1] + dec_x[0]) / 2, y_cell + 0.85),
        f"final state $h^{{e}}_{source_length}$\n(LSTM: and $c^{{e}}_{source_length}$)",
        fontsize=SMALL_FONT_SIZE,
    )
    label(ax, ((enc_x[0] + enc_x[-1]) / 2, 6.9), "encoder: reads the source", fontweight="bold")
    label(ax, ((dec_x[0] + dec_x[-1]) / 2, 6.9), "decoder: writes the target", fontweight="bold")
    label(
        ax,
        ((dec_x[0] + dec_x[-1]) / 2, 0.45),
        "input: the previous target token\n(training: the true one; inference: its own prediction)",
        fontsize=SMALL_FONT_SIZE,
        color="#455a64",
    )
    return fig
