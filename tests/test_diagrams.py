"""The cell diagrams: shared palette and primitives, and the diagram each chapter draws.

Each chapter composes its diagram in a code cell that imports ``rnncourse.diagrams``; these tests run
just that cell (no notebook execution) and check the figure it makes: labels in the book's notation,
gates in Keras' block order, one colour per gate across pages, readable sizes.
"""

from pathlib import Path

import jupytext
import matplotlib
import pytest

matplotlib.use("Agg", force=True)

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from rnncourse import diagrams as dg  # noqa: E402

BOOK_DIR = Path(__file__).resolve().parent.parent / "book"
MARKER = "from rnncourse import diagrams as dg"
PAGES = {
    "rnn_step": "rnn_basics/simple_rnn_numpy.md",
    "lstm": "gated/lstm.md",
    "gru": "gated/gru.md",
    "bidirectional": "gated/bidirectional.md",
}


def diagram_cell(page: str):
    """The (single) code cell of ``book/<page>`` that draws a diagram with rnncourse.diagrams."""
    notebook = jupytext.read(BOOK_DIR / page)
    cells = [c for c in notebook.cells if c.cell_type == "code" and MARKER in c.source]
    assert len(cells) == 1, f"{page}: expected one diagram cell, found {len(cells)}"
    return cells[0]


def draw_page(page: str, monkeypatch):
    """Run the page's diagram cell; return the one figure it made."""
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    before = set(plt.get_fignums())
    exec(compile(diagram_cell(page).source, f"{page}:diagram", "exec"), {"__name__": "diagram"})
    new = sorted(set(plt.get_fignums()) - before)
    assert len(new) == 1, f"{page}: the diagram cell should make one figure, made {len(new)}"
    return plt.figure(new[0])


@pytest.fixture
def figures(monkeypatch):
    """Every diagram of the book, by name (closed afterwards)."""
    made = {name: draw_page(page, monkeypatch) for name, page in PAGES.items()}
    made["encoder_decoder"] = dg.draw_encoder_decoder()
    yield made
    for fig in made.values():
        plt.close(fig)


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def patches(fig, gid_prefix: str):
    return [p for ax in fig.axes for p in ax.patches if (p.get_gid() or "").startswith(gid_prefix)]


def centre_x(patch) -> float:
    box = patch.get_path().get_extents(patch.get_patch_transform())
    return (box.x0 + box.x1) / 2


def centre(patch):
    box = patch.get_path().get_extents(patch.get_patch_transform())
    return ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)


# ---------------------------------------------------------------- palette and primitives


def test_gates_have_distinct_colours():
    gates = ["i", "f", "candidate", "o", "r", "z"]
    fills = [dg.PALETTE[g].fill for g in gates]
    lines = [dg.PALETTE[g].line for g in gates]
    assert len(set(fills)) == len(gates) and len(set(lines)) == len(gates)


def test_unknown_role_names_the_known_ones():
    with pytest.raises(KeyError, match="known: i, f"):
        dg.role("forget")


def test_new_diagram_is_the_book_width():
    fig, ax = dg.new_diagram(width=14, height=8)
    assert tuple(fig.get_size_inches()) == (7.0, 4.0)
    assert ax.get_xlim() == (0, 14) and not ax.axison
    plt.close(fig)


def test_primitives_draw_labelled_coloured_patches():
    fig, ax = dg.new_diagram()
    gate = dg.gate(ax, (2, 2), "f")
    cand = dg.gate(ax, (4, 2), "candidate", "tanh", symbol=r"$\tilde c_t$")
    box = dg.box(ax, (6, 2), "$x_t$", kind="x")
    circle = dg.op(ax, (8, 2), "×")
    arrow = dg.wire(ax, [(0, 0), (1, 0), (1, 1)], bridge=True)
    plain = dg.wire(ax, [(0, 0), (1, 0)], arrow=False)
    assert gate.get_gid() == "gate:f" and gate.get_facecolor() == to_rgba(dg.PALETTE["f"].fill)
    assert cand.get_facecolor() == to_rgba(dg.PALETTE["candidate"].fill)
    assert box.get_gid() == "box:x" and box.get_facecolor() == to_rgba(dg.PALETTE["x"].fill)
    assert circle.get_gid() == "op:×"
    assert {"$f_t$", r"$\sigma$", r"$\tilde c_t$", r"$\tanh$", "$x_t$", "×"} <= set(texts(fig))
    assert isinstance(arrow, FancyArrowPatch) and arrow.get_path_effects()
    assert arrow.get_arrowstyle().__class__.__name__ != plain.get_arrowstyle().__class__.__name__
    with pytest.raises(KeyError):
        dg.gate(ax, (0, 0), "forget")
    plt.close(fig)


def test_block_strip_keeps_the_given_order():
    fig, ax = dg.new_diagram()
    dg.block_strip(ax, (1, 1), ["z", "r", "candidate"], ["$z$", "$r$", r"$\tilde h$"])
    blocks = sorted(patches(fig, "block:"), key=centre_x)
    assert [p.get_gid() for p in blocks] == ["block:z", "block:r", "block:candidate"]
    assert "$r$: reset gate" in texts(fig)
    plt.close(fig)


# ---------------------------------------------------------------- the diagrams


def test_each_page_has_its_diagram_cell_hidden_but_shown():
    for page in PAGES.values():
        tags = diagram_cell(page).metadata.get("tags", [])
        assert "hide-input" in tags, f"{page}: the diagram cell should be tagged hide-input"
        assert "remove-output" not in tags and "remove-cell" not in tags


def test_rnn_step_is_labelled_in_the_chapters_notation(figures):
    labels = set(texts(figures["rnn_step"]))
    assert {"$h_{t-1}$", "$x_t$", "$h_t$", "$b$", r"$\tanh$", "+"} <= labels
    assert any("W" in t and "x_t" in t for t in labels) and any("U" in t and "h_{t-1}" in t for t in labels)
    assert any("H \\times D" in t for t in labels), "W is H x D: H units, D features"
    assert not any("U \\times" in t for t in labels), "U is the recurrent matrix, not the number of units"


def test_lstm_diagram_has_all_gates_and_states(figures):
    fig = figures["lstm"]
    labels = set(texts(fig))
    expected = {"$i_t$", "$f_t$", r"$\tilde c_t$", "$o_t$", "$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$h_t$"}
    assert expected <= labels, expected - labels
    gates = sorted(patches(fig, "gate:"), key=centre_x)
    assert [g.get_gid() for g in gates] == ["gate:i", "gate:f", "gate:candidate", "gate:o"], "Keras' order"
    blocks = sorted(patches(fig, "block:"), key=centre_x)
    assert [b.get_gid() for b in blocks] == ["block:i", "block:f", "block:candidate", "block:o"]
    # the cell path is highlighted: thick wires in the cell state's colour
    cell_wires = [
        p
        for p in fig.axes[0].patches
        if isinstance(p, FancyArrowPatch) and p.get_edgecolor() == to_rgba(dg.PALETTE["c"].line)
    ]
    assert any(w.get_linewidth() >= 3 for w in cell_wires)
    assert {"×", "+"} <= labels


def test_gru_diagram_resets_after_the_recurrent_product(figures):
    fig = figures["gru"]
    labels = set(texts(fig))
    assert {"$z_t$", "$r_t$", r"$\tilde h_t$", "$h_{t-1}$", "$h_t$", "1−"} <= labels
    assert any("z_t \\odot h_{t-1} + (1 - z_t)" in t for t in labels), "Keras' update convention"
    gates = sorted(patches(fig, "gate:"), key=lambda p: (centre(p)[1] > 4, centre_x(p)))
    assert [g.get_gid() for g in gates] == ["gate:z", "gate:r", "gate:candidate"], "Keras' order z, r, h"
    # r's wire ends at a product that sits to the right of the box computing U_h h_{t-1}, on its line
    ax = fig.axes[0]
    r_wire = next(
        p
        for p in ax.patches
        if isinstance(p, FancyArrowPatch) and p.get_edgecolor() == to_rgba(dg.PALETTE["r"].line)
    )
    r_end = r_wire.points[-1]
    product = min(
        patches(fig, "op:×"), key=lambda p: abs(p.center[0] - r_end[0]) + abs(p.center[1] - r_end[1])
    )
    assert abs(product.center[0] - r_end[0]) < 0.1 and abs(product.center[1] - r_end[1]) < 0.5
    recurrent = next(t for t in ax.texts if "U_h h_{t-1}" in t.get_text())
    assert recurrent.get_position()[0] < product.center[0]
    assert abs(recurrent.get_position()[1] - product.center[1]) < 0.1


def test_bidirectional_diagram_aligns_positions_and_final_states(figures):
    fig = figures["bidirectional"]
    labels = texts(fig)
    for t in ["1", "2", "3", "T"]:
        assert labels.count(rf"$\overrightarrow{{h}}_{t}$") == 2  # its state, and in the output at t
        assert labels.count(rf"$\overleftarrow{{h}}_{t}$") == 2
    assert "out[:, -1, :]" in labels
    forward, backward = patches(fig, "box:forward"), patches(fig, "box:backward")
    thick_forward = [p for p in forward if p.get_linewidth() >= 3]
    thick_backward = [p for p in backward if p.get_linewidth() >= 3]
    assert len(thick_forward) == 1 and len(thick_backward) == 1
    assert centre_x(thick_forward[0]) == pytest.approx(max(centre_x(p) for p in forward), abs=0.5)
    assert centre_x(thick_backward[0]) == pytest.approx(min(centre_x(p) for p in backward), abs=0.5)


def test_encoder_decoder_draws_both_halves():
    fig = dg.draw_encoder_decoder(source_length=4, target_length=2)
    labels = texts(fig)
    assert [f"$x_{k}$" for k in range(1, 5)] == [t for t in labels if t.startswith("$x_")]
    assert len(patches(fig, "box:encoder")) == 4 and len(patches(fig, "box:decoder")) == 2
    assert {r"$\hat y_1$", r"$\hat y_2$", "$y_1$"} <= set(labels)
    assert any("final state" in t and "h^{e}_4" in t for t in labels)
    plt.close(fig)


def test_one_colour_per_gate_in_every_diagram(figures):
    seen = {}
    for name, fig in figures.items():
        for patch in patches(fig, "gate:") + patches(fig, "block:"):
            kind = patch.get_gid().split(":", 1)[1]
            assert patch.get_facecolor() == to_rgba(dg.PALETTE[kind].fill), (name, kind)
            seen.setdefault(kind, set()).add(name)
    assert seen["candidate"] == {"lstm", "gru"}, "the candidate appears in both cells, in one colour"


def test_diagrams_are_readable_at_the_book_width(figures):
    for name, fig in figures.items():
        width, height = fig.get_size_inches()
        assert width == pytest.approx(7.0) and 3.5 <= height <= 4.5, (name, width, height)
        assert fig.dpi == 100
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for text in (t for ax in fig.axes for t in ax.texts):
            assert text.get_fontsize() >= 10, (name, text.get_text())
            box = text.get_window_extent(renderer)
            inside = box.x0 >= -1 and box.y0 >= -1 and box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1
            assert inside, f"{name}: {text.get_text()!r} is cut off at the figure's edge"
