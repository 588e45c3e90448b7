"""Editorial checks that catch a corrected mistake coming back: notation, attributions, garbled text.

Fast: these read the sources as text and never execute a notebook.
"""

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOK = REPO_ROOT / "book"
SOLUTIONS = REPO_ROOT / "solutions"

GATED_CHAPTERS = ["gated/lstm.md", "gated/gru.md"]


def prose(path: Path) -> str:
    """The Markdown text of a MyST page, without its fenced blocks (code cells, code examples)."""
    kept, fence = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(`{3,}|~{3,})", line)
        if fence:
            if match and line.strip() == fence:
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        kept.append(line)
    return "\n".join(kept)


def math_spans(text: str) -> list[str]:
    """Every inline ($...$) and display ($$...$$) math span of a text."""
    return re.findall(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", text, flags=re.S)


def notebook_markdown(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")


def notebook_text(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in notebook["cells"])


# A bare U used as a size: U units, R^U, (U, 4U), 3U, U \times ...; U_i, U_h (matrices) are fine.
UNITS_AS_U = re.compile(r"\$U\$ units|\\mathbb\{R\}\^U|\(U,|\b[2-4]U\b|U \\times|U \\cdot|\bU = \d|D = U")


@pytest.mark.parametrize("page", GATED_CHAPTERS)
def test_gated_chapters_use_h_for_units(page):
    text = (BOOK / page).read_text(encoding="utf-8")
    hits = sorted({m.group(0) for m in UNITS_AS_U.finditer(text)})
    assert not hits, f"book/{page} uses U for the number of units ({hits}); write H, keep U_* for matrices"
    assert "$H$ units" in text


@pytest.mark.parametrize("page", GATED_CHAPTERS)
def test_gated_chapters_write_parameter_counts_with_h_and_d(page):
    spans = ["".join(groups) for groups in math_spans(prose(BOOK / page))]
    lower = [span for span in spans if re.search(r"(?<![A-Za-z\\])[ud](?![A-Za-z])", span)]
    assert not lower, f"book/{page} writes sizes as u or d in its math: {lower[:3]}; use H and D"


def test_lstm_gru_assignment_uses_h_for_units():
    text = notebook_text(SOLUTIONS / "lstm_gru_cells" / "lstm_gru_cells.ipynb")
    hits = sorted({m.group(0) for m in re.finditer(r"`U`|\(N, U\)|\b[34]U\b|U=\{u\}", text)})
    assert not hits, f"solutions/lstm_gru_cells uses U for the number of units: {hits}"


def test_gru_update_conventions_are_credited_correctly():
    """Cho et al. 2014 (eq. 7) write h = z h_prev + (1 - z) h~; the other form is Chung et al.'s."""
    markdown = notebook_markdown(SOLUTIONS / "lstm_gru_cells" / "lstm_gru_cells.ipynb")
    assert "original GRU paper and many course notes write" not in markdown
    task = markdown[markdown.index("## Task 3") :]
    chung = task.index("Chung et al. (2014)")
    cho = task.index("Cho et al., 2014, eq. 7")
    z_writes = task.index(r"(1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t")
    z_keeps = task.index(r"z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t")
    assert chung < z_writes < cho < z_keeps, "Task 3 should credit the (1 - z) h_prev form to Chung et al."

    chapter = (BOOK / "gated" / "gru.md").read_text(encoding="utf-8")
    assert "(Chung et al. 2014, the seminar and the lab report)" in chapter
    assert "(Keras, PyTorch, Cho et al. 2014)" in chapter


def test_gru_chapter_does_not_call_reset_before_the_keras_default():
    text = " ".join(prose(BOOK / "gated" / "gru.md").split())
    assert "are what Keras and PyTorch compute" not in text
    assert "Keras computes exactly these with `reset_after=False`" in text


def test_twice_as_fast_is_credited_to_the_lecture_only():
    gru = " ".join(prose(BOOK / "gated" / "gru.md").split())
    errata = " ".join(prose(BOOK / "appendix" / "errata.md").split())
    assert "The lecture and the seminar state" not in gru
    assert "the seminar makes no claim about speed" in gru
    assert "| lecture, seminar | LSTM faster" not in errata
    assert "Both claims are the lecture's" in errata


def test_errata_attributions():
    errata = " ".join((BOOK / "appendix" / "errata.md").read_text(encoding="utf-8").split())
    assert "imports pad_sequences from keras.preprocessing (the lecture and the blog post)" in errata
    assert "Dense(tforoout_rate)" in errata and "artefact of Dropout(dropout_rate)" in errata


def test_bptt_assignment_question_is_not_garbled():
    text = " ".join(notebook_text(SOLUTIONS / "bptt" / "bptt.ipynb").split())
    assert "is enough for full marks" not in text
    released = REPO_ROOT / "assignments" / "bptt" / "bptt.ipynb"
    if released.exists():
        assert "is enough for full marks" not in " ".join(notebook_text(released).split())


def test_bptt_calls_the_bound_geometric():
    text = prose(BOOK / "rnn_basics" / "bptt.md")
    assert "linear bound" not in text


def test_imdb_lab_exercise_matches_better_model():
    text = (BOOK / "labs" / "imdb_simple_rnn_lstm.md").read_text(encoding="utf-8")
    assert "`head` list" not in text
    # the speed box is worded by a cell from the measured ratio, not stated as a fact
    assert "in fact an LSTM epoch costs more" not in text
    assert "{glue:text}`lstm_time_verdict`" in text and 'glue("lstm_time_verdict"' in text


def test_bidirectional_count_correction_is_told_once():
    """The full story of 3·64·(128+64+1) lives in the errata; other pages link to it."""
    pages = [p for p in BOOK.rglob("*.md") if "_build" not in p.parts]
    telling = [p for p in pages if "(128 + 64 + 1) = 74{,}496" in p.read_text(encoding="utf-8")]
    assert telling == [], f"the 74,496 correction is told again in {telling}: link to the errata instead"
    errata = (BOOK / "appendix" / "errata.md").read_text(encoding="utf-8")
    assert "(errata-bidirectional-counts)=" in errata
    for page in ["gated/gru.md", "gated/lstm.md", "gated/bidirectional.md", "labs/imdb_bidirectional.md"]:
        assert "<errata-bidirectional-counts>`" in (BOOK / page).read_text(encoding="utf-8"), page


def test_build_remarks_stay_out_of_the_reading_path():
    """Remarks about the machine that builds the book belong in a collapsed note (or the README)."""
    pattern = re.compile(r"on this stack|two-core|COURSE_RESULTS_DIR|_build/", re.I)
    collapsed = re.compile(r":::\{(?:admonition|note)\}[^\n]*\n:class: [^\n]*dropdown.*?\n:::", re.S)
    for path in sorted(BOOK.rglob("*.md")):
        if path.name == "about.md":  # how to build and run the book is that page's subject
            continue
        text = collapsed.sub("", prose(path))
        match = pattern.search(text)
        assert match is None, f"{path.relative_to(REPO_ROOT)}: '{match.group(0)}' outside a collapsed note"


def test_about_page_comes_first_and_has_the_notation():
    toc = (REPO_ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert toc.index("book/about") < toc.index("book/rnn_basics/ffnn_vs_rnn")
    about = (BOOK / "about.md").read_text(encoding="utf-8")
    for needle in [
        "the lab report",
        "the lecture",
        "the seminar",
        "the blog post",
        "Colab",
        "Binder",
        "make book",
    ]:
        assert needle in about, needle
    for symbol in [r"$x_t$", r"$h_t$", r"$c_t$", r"$W$", r"$U$", r"$H$", r"$D$", r"$\tilde h_t$", r"$z_t$"]:
        rows = [line for line in about.splitlines() if line.startswith("| ") and symbol in line.split("|")[1]]
        assert rows, f"the notation table lacks {symbol}"


GLOSSARY_TERMS = [
    "후보 은닉 상태",
    "후보 셀 상태",
    "감성 분석",
    "전개",
    "삭제 게이트",
    "규제",
    "편향",
    "게이트",
    "순차 데이터",
    "교사 강요",
    "학습 곡선",
]


def test_glossary_korean_terms():
    text = (BOOK / "glossary.md").read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1]
    term_lines = {line.strip() for line in body.splitlines() if line and not line.startswith(" ")}
    missing = [term for term in GLOSSARY_TERMS if term not in term_lines]
    assert not missing, f"glossary lacks the Korean terms {missing}"
    assert "그래디언트 클리핑" not in term_lines, "use 기울기 for gradient throughout"
    assert "재귀 신경망" in body and "recursive" in body
    unrolling = body[body.index("\nunrolling\n") :].split("\n\n", 1)[0]
    assert "**†**" not in unrolling, "the lecture's word for unrolling is 전개: no † there"
