"""Feedback that cannot attack, nothing outside the sandbox following what the student made, and any
student id (issue 11, items 3-5): unit tests of ``autograder/sanitize.py``, the notebook reader and
the id rules, and one graded class of hostile submissions."""

import json
import os
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import nbtools
import pytest
from grading import read_rows, run_autograder, write_submissions
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import integrity, sanitize
from autograder.grade import MAX_ID_BYTES, SOLUTIONS_DIR, STUDENT_ID_PATTERN
from autograder.student import work_name

ASSIGNMENT = "numpy_rnn"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
PAYLOAD = '<script>alert(1)</script> <img src=x onerror=alert(1)> <a href="javascript:alert(1)">x</a>'
MARKDOWN_PAYLOAD = f"{PAYLOAD} [link](javascript:alert(2)) <iframe src=https://example.org></iframe>"
HONEST_MARKDOWN = (
    "**Bold**, $a<b$ and\n\n```python\nif a < b:\n    pass\n```\n\n> quoted\n\n| a | b |\n|--|--|\n| 1 | 2 |"
)
LONG_ID = ("Zoë Ångström_" + "0123456789" * 12)[:120]  # an LMS export's folder name: 120 characters


class Page(HTMLParser):
    """Every start tag of a page, and whether it came after <body>."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.in_body = [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.in_body = self.in_body or tag == "body"
        self.tags.append((tag, dict(attrs), self.in_body))


def live_content(text: str) -> list:
    """Scripts and frames in the body, event handlers and javascript: URLs anywhere."""
    return [
        (tag, attrs)
        for tag, attrs, in_body in Page(text).tags
        if (in_body and tag in ("script", "iframe", "object", "embed"))
        or any(name.startswith("on") for name in attrs)
        or any(re.sub(r"\s", "", value or "").lower().startswith("javascript:") for value in attrs.values())
    ]


def hostile_notebook() -> nbformat.NotebookNode:
    widget_state = {"application/vnd.jupyter.widget-state+json": {"state": {"</script><script>": 1}}}
    notebook = new_notebook(metadata={"widgets": widget_state})
    notebook.cells = [
        new_markdown_cell(MARKDOWN_PAYLOAD),
        new_markdown_cell(HONEST_MARKDOWN),
        new_code_cell("x = 1"),
    ]
    notebook.cells[2].outputs = [
        new_output(
            "display_data",
            data={
                "text/html": PAYLOAD + "<table><tr><th>kept</th></tr></table>",
                "text/markdown": MARKDOWN_PAYLOAD,
                "application/javascript": "alert(3)",
                "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)"></svg>',
                "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                "text/plain": "<IPython.core.display.HTML object>",
            },
            metadata={"isolated": True},
        ),
        new_output(
            "display_data",
            data={"image/png": "iVBORw0KGgo="},
            metadata={"image/png": {"width": "1 onerror=alert(5)", "height": 40}, "filenames": {"a": "b"}},
        ),
        new_output("stream", text=PAYLOAD),
    ]
    return notebook


def test_sanitized_notebook_renders_without_live_content_and_keeps_formatting():
    notebook = hostile_notebook()
    assert live_content(HTMLExporter(template_name="classic").from_notebook_node(notebook)[0]), "the attack"
    notebook.cells[2].execution_count = "<script>alert(9)</script>"  # written into In [...] as it is

    assert sanitize.sanitize_notebook(notebook) == []
    page, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)

    assert live_content(page) == []
    for gone in ("alert(3)", "alert(4)", "alert(5)", "alert(9)", "</script><script>"):
        assert gone not in page, gone
    assert "&lt;script&gt;alert(1)" in page, "printed text stays, as text"
    display, image, _ = notebook.cells[2].outputs
    assert set(display.data) == {"text/html", "text/markdown", "text/plain"} and display.metadata == {}
    assert image.metadata == {"image/png": {"height": 40}}
    assert "<th>kept</th>" in display.data["text/html"]
    for honest in (
        "<strong>Bold</strong>",
        "$a&lt;b$",
        "<blockquote>",
        "<td>2</td>",
        '<span class="o">&lt;</span>',
    ):
        assert honest in notebook.cells[1].source, honest
    assert "<strong>Bold</strong>" in page and '<span class="o">&lt;</span>' in page
    again = json.dumps(notebook)
    sanitize.sanitize_notebook(notebook)
    assert json.dumps(notebook) == again, "sanitising twice changes nothing (feedback is regenerated)"


def test_every_output_field_is_capped_with_a_note():
    big = sanitize.FIELD_CAP + 5_000
    notebook = new_notebook(cells=[new_code_cell("x", metadata={"nbgrader": {"grade_id": "big"}})])
    notebook.cells[0].outputs = [
        new_output("stream", text="s" * big),
        new_output("error", ename="E", evalue="v" * big, traceback=["t" * 600_000, "u" * 600_000]),
        new_output("display_data", data={"text/html": "<p>" + "h" * big, "image/png": "A" * big}),
    ]
    notebook.cells.append(new_markdown_cell("m" * big))
    notebook.cells.append(new_code_cell("y"))
    notebook.cells[-1].outputs = [new_output("stream", text="z" * 900_000) for _ in range(25)]

    assert sanitize.sanitize_notebook(notebook) == ["big", "cell 1", "cell 2"]
    stream, error, display = notebook.cells[0].outputs
    for text in (stream.text, error.evalue, error.traceback[0], display.data["text/html"]):
        assert len(text) <= sanitize.FIELD_CAP and "[autograder] too large for the grader, cut:" in text
    assert "image/png" not in display.data and "cut: 1,005,000 characters" in display.data["text/plain"]
    assert "cut:" in notebook.cells[1].source
    outputs = notebook.cells[2].outputs
    assert len(json.dumps(notebook)) < sanitize.NOTEBOOK_CAP + 2 * sanitize.FIELD_CAP
    assert "the notebook's outputs are too large for the grader, cut:" in outputs[-1].text


def make_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A folder as a kernel may leave it: files, a folder, links out, a fifo, a hard link."""
    outside = tmp_path / "outside.txt"
    outside.write_text("HOST-SECRET")
    outside.chmod(0o600)
    (tmp_path / "outside-dir").mkdir()
    folder = tmp_path / "student"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "sub" / "data.txt").write_text("also mine")
    (folder / "link.txt").symlink_to(outside)
    (folder / "sub" / "up.txt").symlink_to("../../outside.txt")
    (folder / "dir-link").symlink_to(tmp_path / "outside-dir", target_is_directory=True)
    os.mkfifo(folder / "fifo")
    os.link(folder / "notes.txt", folder / "hard.txt")
    return folder, outside


def test_copy_regular_files_follows_no_link(tmp_path):
    folder, outside = make_tree(tmp_path)
    target = tmp_path / "copy"

    left_out = sanitize.copy_regular_files(folder, target)

    assert sorted(left_out) == [
        "dir-link (symlink)",
        "fifo (fifo)",
        "link.txt (symlink)",
        "sub/up.txt (symlink)",
    ]
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    assert copied == ["hard.txt", "notes.txt", "sub", "sub/data.txt"]
    assert (target / "hard.txt").read_text() == "mine" and (target / "hard.txt").stat().st_nlink == 1
    for path in target.rglob("*"):
        path.chmod(0o444)  # nbgrader's set_permissions: it reaches only the copies
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600 and (folder / "notes.txt").stat().st_mode & 0o200
    assert sanitize.copy_regular_files(folder, tmp_path / "again", skip={"sub", "fifo"}) == [
        "dir-link (symlink)",
        "link.txt (symlink)",
    ]


def test_kernel_leftovers_are_removed_and_reported(tmp_path):
    from autograder.student import event_reasons

    folder, outside = make_tree(tmp_path)
    sanitize.EVENTS.clear()
    remover = sanitize.RemoveKernelLeftovers()

    remover(new_notebook(), {"metadata": {"path": str(folder)}})  # as nbgrader calls it

    assert sorted(p.name for p in folder.rglob("*")) == ["data.txt", "hard.txt", "notes.txt", "sub"]
    assert outside.read_text() == "HOST-SECRET"
    reasons = event_reasons(sanitize.EVENTS)
    assert reasons == [
        "removed what the kernel left that is not a regular file: dir-link (symlink), fifo (fifo), "
        "link.txt (symlink), sub/up.txt (symlink)"
    ]


@pytest.mark.parametrize(
    "depth_or_cells, reason",
    [
        ({"depth": 100_000}, "JSON nested more than 100 levels deep"),
        ({"depth": 500}, "JSON nested more than 100 levels deep"),
        ({"cells": 10_001}, "more than 10,000 cells"),
    ],
)
def test_deep_or_huge_json_is_refused_with_a_reason(tmp_path, depth_or_cells, reason):
    path = tmp_path / NOTEBOOK
    if "depth" in depth_or_cells:
        depth = depth_or_cells["depth"]
        notebook = new_notebook(cells=[new_markdown_cell("hi")])
        text = nbformat.writes(notebook).replace(
            '"metadata": {}', '"metadata": {"x": ' + "[" * depth + "]" * depth + "}", 1
        )
        path.write_text(text)
    else:
        cells = [{"cell_type": "markdown", "metadata": {}, "source": ""}] * depth_or_cells["cells"]
        path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    with pytest.raises(
        integrity.NotebookUnreadable, match=re.escape(f"{NOTEBOOK} is not a readable notebook ({reason})")
    ):
        integrity.read_notebook(path)


def test_a_deep_but_reasonable_notebook_is_read(tmp_path):
    notebook = nbtools.read(SOLUTIONS_DIR / ASSIGNMENT / NOTEBOOK)
    notebook.cells[0].metadata["x"] = json.loads("[" * 50 + "]" * 50)
    nbformat.write(notebook, tmp_path / NOTEBOOK)
    assert len(integrity.read_notebook(tmp_path / NOTEBOOK).cells) == len(notebook.cells)


@pytest.mark.parametrize(
    "student_id, valid",
    [
        (LONG_ID, True),
        ("学生-42", True),
        ("alice.smith@uni.example+1", True),
        ("template.db", True),
        ("x" * MAX_ID_BYTES, True),
        ("é" * 126, False),  # 252 bytes
        (".hidden", False),
        ("-rf", False),
        ("a*b", False),
        ("a[1]", False),
        ("<script>", False),
        ("trailing ", False),
        ("new\nline", False),
        ("\udcff", False),  # a file name that is not UTF-8
    ],
)
def test_student_ids(student_id, valid):
    ok = (
        bool(STUDENT_ID_PATTERN.fullmatch(student_id))
        and len(student_id.encode(errors="replace")) <= MAX_ID_BYTES
    )
    assert ok == valid


def test_private_course_names_are_short_distinct_and_never_the_graders():
    ids = [LONG_ID, "template.db", "runtime", ".work", "gradebook.db", "course", "a", "A"]
    names = [work_name(student) for student in ids]
    assert len(set(names)) == len(ids) and all(len(n) == 22 and n.startswith("s-") for n in names)
    assert not {"template.db", "runtime", "gradebook.db", "course", "logs", "feedback"} & set(names)


# --------------------------------------------------------------------------------------------
# One class graded end to end


LINKS = """
import os
for name, target in {targets!r}.items():
    os.symlink(target, name)
os.mkfifo("pipe")
print(sorted(os.listdir(".")))
"""
DISPLAYS = f"""
from IPython.display import HTML, Javascript, Markdown, SVG, display
payload = {MARKDOWN_PAYLOAD!r}
display(HTML(payload))
display(Markdown(payload))
display(Javascript("alert" + "(3)"))  # (the source is in the feedback: only outputs may not hold them)
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="alert' + '(4)"></svg>'))
get_ipython().display_pub.publish(
    {{"image/png": "iVBORw0KGgo=", "text/plain": "png"}}, metadata={{"image/png": {{"width": "1 onerror=alert" + "(5)"}}}}
)
print(payload)
"""


def solution_with(code: str, markdown: str | None = None) -> nbformat.NotebookNode:
    notebook = nbtools.read(SOLUTIONS_DIR / ASSIGNMENT / NOTEBOOK)
    if markdown is not None:
        answer = next(
            c
            for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == "parameter-count-answer"
        )
        answer.source = markdown
        notebook.cells.append(new_markdown_cell(markdown))
    notebook.cells.append(new_code_cell(code))
    return notebook


def files_under(folder: Path) -> list[Path]:
    return [Path(root) / name for root, dirs, files in os.walk(folder) for name in dirs + files]


def grade_hostile_class(root: Path) -> dict:
    """Grade, in ``root``, a student whose kernel leaves links and a fifo, and one whose outputs and
    Markdown carry scripts (its id is one of the grader's own file names)."""
    out, submissions = root / "out", root / "submissions"
    host_file = root / "host-secret.txt"
    host_file.write_text("HOST-SECRET")
    host_file.chmod(0o600)
    passwd_mode = os.stat("/etc/passwd").st_mode
    targets = {
        "leak.ipynb": f"../../../solutions/{ASSIGNMENT}/{NOTEBOOK}",
        "gradebook-link.db": str(out / "course" / "gradebook.db"),
        "passwd.txt": "/etc/passwd",
        "secret.txt": str(host_file),
        "etc-dir": "/etc",
    }
    write_submissions(
        submissions,
        ASSIGNMENT,
        {
            LONG_ID: solution_with(LINKS.format(targets=targets)),
            "template.db": solution_with(DISPLAYS, markdown=MARKDOWN_PAYLOAD + "\n\n" + HONEST_MARKDOWN),
        },
    )

    try:
        result = run_autograder(submissions, "-a", ASSIGNMENT, "-o", out, "--workers", "2")
    finally:
        if os.stat("/etc/passwd").st_mode != passwd_mode:  # never expected; put it back
            os.chmod("/etc/passwd", stat.S_IMODE(passwd_mode))
    return {"out": out, "host_file": host_file, "passwd_mode": passwd_mode, "result": result}


def start_grading(runs, items):
    runs.submit("hostile", grade_hostile_class)  # in the background, from the end of collection


@pytest.mark.slow
@pytest.mark.needs("bwrap")
def test_hostile_class_is_graded_and_nothing_leaks_or_runs(graded):
    run = graded.result("hostile", grade_hostile_class)
    out, host_file, passwd_mode, result = run["out"], run["host_file"], run["passwd_mode"], run["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = read_rows(out)
    for student in (LONG_ID, "template.db"):
        row = rows[student]
        assert row["status"] == "graded" and float(row["auto_score"]) == float(row["auto_max"]) > 0, row
    reason = rows[LONG_ID]["reason"]
    assert rows[LONG_ID]["flagged"] == "True"
    assert "removed what the kernel left that is not a regular file: etc-dir (symlink), " in reason, reason
    for name in (
        "gradebook-link.db (symlink)",
        "leak.ipynb (symlink)",
        "passwd.txt (symlink)",
        "pipe (fifo)",
    ):
        assert name in reason, reason

    # nothing in OUT is a link or a fifo, and no copy of what the links named
    everything = files_under(out)
    assert [p for p in everything if not (p.is_dir() or stat.S_ISREG(p.lstat().st_mode))] == []
    for step in ("submitted", "autograded", "feedback"):
        assert [p.name for p in (out / "course" / step / LONG_ID / ASSIGNMENT).iterdir()] == [
            "numpy_rnn.html" if step == "feedback" else NOTEBOOK
        ]
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted([LONG_ID, "template.db"])
    passwd = Path("/etc/passwd").read_bytes().splitlines()[0]
    for path in everything:
        if path.is_file() and "course/solutions" not in str(path) and path.suffix != ".db":
            content = path.read_bytes()
            assert b"HOST-SECRET" not in content and passwd not in content, path
            assert b"BEGIN HIDDEN TESTS" not in content or "feedback" not in str(path), path
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o600
    assert os.stat("/etc/passwd").st_mode == passwd_mode
    assert (out / "course" / "gradebook.db").stat().st_mode & 0o200, "nbgrader's chmod reached the gradebook"

    # the feedback and the notebook the formgrader shows run nothing of the student's
    page = (out / "feedback" / "template.db" / "numpy_rnn.html").read_text(encoding="utf-8")
    assert live_content(page) == []
    scripts = [attrs for tag, attrs, _ in Page(page).tags if tag == "script"]
    assert len(scripts) == 2 and all("mathjax" in json.dumps(attrs) for attrs in scripts), scripts
    assert "alert(3)" not in page and "alert(4)" not in page and "alert(5)" not in page
    assert "&lt;script&gt;alert(1)" in page and "<strong>Bold</strong>" in page
    autograded = nbtools.read(out / "course" / "autograded" / "template.db" / ASSIGNMENT / NOTEBOOK)
    shown = json.dumps([c.source for c in autograded.cells if c.cell_type == "markdown"])
    shown += json.dumps([o.get("data") for c in autograded.cells for o in c.get("outputs", [])])
    for gone in ("<script", "onerror=", "onload=", 'href=\\"javascript:', "<iframe"):  # text may stay
        assert gone not in shown, gone
