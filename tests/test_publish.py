"""Where the course lives is set once (_config.yml), and what students open derives from it.

* Every install cell (book pages, assignments and their releases), the README's install line and the
  Colab copies agree with ``repository: url/branch`` of _config.yml; a fork that changes that one
  setting and runs ``make notebooks`` (``rnncourse/publish.py``) has nothing left pointing elsewhere.
* The Colab copies ``book/**/*.ipynb`` read as plain notebooks: no MyST role, directive or label.
* The assignments' install cell is locked in nbgrader, comes first, and does nothing where the course
  package is importable (the grader's sandbox), while on Colab it installs it.
"""

import re
import shutil
from pathlib import Path
from unittest import mock

import jupytext
import nbformat
import nbtools
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from prerequisites import REPO_ROOT

from rnncourse import publish

CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
REPOSITORY = CONFIG["repository"]
EXPECTED_SPEC = f"rnncourse @ git+{REPOSITORY['url']}" + (
    "" if REPOSITORY.get("branch", "main") == "main" else f"@{REPOSITORY['branch']}"
)
SPEC = re.compile(r"rnncourse @ git\+[^\"'\s\\]+")

PAGES = publish.notebook_pages(REPO_ROOT)
COPIES = [page.with_suffix(".ipynb") for page in PAGES]
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*/*.ipynb"))
RELEASES = sorted((REPO_ROOT / "assignments").glob("*/*.ipynb"))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_there_are_pages_assignments_and_a_readme_to_check():
    assert PAGES and SOLUTIONS and RELEASES
    assert len(RELEASES) == len(SOLUTIONS)


@pytest.mark.parametrize(
    "path",
    [REPO_ROOT / "README.md", *PAGES, *COPIES, *SOLUTIONS, *RELEASES],
    ids=rel,
)
def test_every_install_line_names_the_repository_of_config(path):
    """The README, the pages, the Colab copies and the assignments install from _config.yml's repository."""
    text = path.read_text(encoding="utf-8")
    found = SPEC.findall(text)
    assert found, f"{rel(path)} installs nothing: run `make notebooks`"
    stale = sorted(set(found) - {EXPECTED_SPEC})
    assert not stale, (
        f"{rel(path)} installs {stale}, _config.yml says {EXPECTED_SPEC!r}: run `make notebooks`"
    )


def test_nothing_derived_from_config_or_pages_is_out_of_date():
    out_of_date = publish.publish(REPO_ROOT, check=True)
    assert not out_of_date, "run `make notebooks`; out of date: " + ", ".join(map(rel, out_of_date))


def test_a_fork_changes_one_setting_and_make_notebooks_does_the_rest(tmp_path):
    """Copy the course, point _config.yml elsewhere, publish: nothing names the old repository or book."""
    site = publish.load_site(REPO_ROOT)
    for name in ("_config.yml", "_toc.yml", "README.md"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_static"))
    shutil.copytree(REPO_ROOT / "solutions", tmp_path / "solutions")
    config = (tmp_path / "_config.yml").read_text(encoding="utf-8")
    config = config.replace(f"url: {REPOSITORY['url']}", "url: https://github.com/A-Teacher/rnn-course")
    config = config.replace(f"branch: {REPOSITORY['branch']}", "branch: spring-2027")
    (tmp_path / "_config.yml").write_text(config, encoding="utf-8")

    written = publish.publish(tmp_path, releases=False)

    new_spec = "rnncourse @ git+https://github.com/A-Teacher/rnn-course@spring-2027"
    checked = [tmp_path / "README.md"]
    for page in publish.notebook_pages(tmp_path):
        checked += [page, page.with_suffix(".ipynb")]
        first = next(c for c in jupytext.read(page).cells if c.cell_type == "code")
        assert f'"{new_spec}"' in first.source and "remove-input" in first.metadata["tags"]
        copy = page.with_suffix(".ipynb").read_text(encoding="utf-8")
        assert "https://a-teacher.github.io/rnn-course/book/" in copy
    for solution in sorted((tmp_path / "solutions").glob("*/*.ipynb")):
        checked.append(solution)
        install = nbtools.read(solution).cells
        assert any(c.get("id") == publish.ASSIGNMENT_INSTALL_ID and new_spec in c.source for c in install)
    for path in checked:
        text = path.read_text(encoding="utf-8")
        assert REPOSITORY["url"] not in text and site.book_url not in text, (
            f"{path.name} still names the old one"
        )
        assert SPEC.findall(text) and set(SPEC.findall(text)) == {new_spec}, path.name
    assert tmp_path / "README.md" in written
    assert publish.publish(tmp_path, check=True, releases=False) == [], "a second run must change nothing"


@pytest.mark.parametrize(
    ("repository", "book"),
    [
        ("https://github.com/rnn-hands-on/rnn-hands-on", "https://rnn-hands-on.github.io/rnn-hands-on/"),
        ("https://github.com/Someone/course.git", "https://someone.github.io/course/"),
        ("https://github.com/someone/someone.github.io", "https://someone.github.io/"),
        ("https://gitlab.com/group/course", "https://group.gitlab.io/course/"),
    ],
)
def test_the_book_address_follows_from_the_repository(tmp_path, repository, book):
    (tmp_path / "_config.yml").write_text(
        f"repository:\n  url: {repository}\n  branch: main\n", encoding="utf-8"
    )
    site = publish.load_site(tmp_path)
    assert site.book_url == book
    assert site.install_spec == f"rnncourse @ git+{repository.removesuffix('.git')}"
    (tmp_path / "_config.yml").write_text(
        f"repository:\n  url: {repository}\n  branch: main\nhtml:\n  baseurl: https://example.org/rnn\n",
        encoding="utf-8",
    )
    assert publish.load_site(tmp_path).book_url == "https://example.org/rnn/"


# ------------------------------------------------------------------------------------------------
# The Colab copies read as plain notebooks


@pytest.mark.parametrize("copy", COPIES, ids=rel)
def test_colab_copy_markdown_holds_no_myst(copy):
    assert copy.is_file(), f"{rel(copy)} is missing: run `make notebooks`"
    found = nbtools.leftover_myst(nbformat.read(copy, as_version=4))
    assert not found, f"{rel(copy)} (run `make notebooks`):\n" + "\n".join(found[:20])


def test_every_copy_links_back_to_its_page_of_the_published_book():
    site = publish.load_site(REPO_ROOT)
    for page, copy in zip(PAGES, COPIES, strict=True):
        first = next(c for c in nbformat.read(copy, as_version=4).cells if c.cell_type == "markdown")
        url = site.page_url(page.relative_to(REPO_ROOT).with_suffix("").as_posix())
        assert f"]({url})" in first.source, rel(copy)


@pytest.fixture(scope="module")
def index():
    """A small book: one numbered chapter with an equation and a label, a glossary, a reference."""
    site = publish.Site(url="https://github.com/o/r", branch="main", book_url="https://o.github.io/r/")
    book = publish.BookIndex(root=REPO_ROOT, site=site)
    book.titles = {"book/part/other": "The other chapter", "book/part/page": "This chapter"}
    book.labels = {"a-label": ("book/part/other", "A section")}
    book.equations = {"eq-one": ("book/part/page", "2.1"), "eq-far": ("book/part/other", "3.4")}
    book.terms = {"hidden state": ("hidden state", "term-hidden-state"), "lstm": ("LSTM", "term-LSTM")}
    book.references = {
        "elman1990": ("Elman", "1990"),
        "hochreiter1997": ("Hochreiter and Schmidhuber", "1997"),
    }
    return book


BOOK = "https://o.github.io/r/book/"


@pytest.mark.parametrize(
    ("myst", "markdown"),
    [
        ("the {term}`hidden state`", f"the [hidden state]({BOOK}glossary.html#term-hidden-state)"),
        ("{term}`cells <LSTM>`", f"[cells]({BOOK}glossary.html#term-LSTM)"),
        ("{term}`hidden\nstate`", f"[hidden state]({BOOK}glossary.html#term-hidden-state)"),
        ("see {doc}`other`", f"see [The other chapter]({BOOK}part/other.html)"),
        ("see {doc}`../part/other`", f"see [The other chapter]({BOOK}part/other.html)"),
        ("{doc}`that page <other>`", f"[that page]({BOOK}part/other.html)"),
        ("{ref}`a-label`", f"[A section]({BOOK}part/other.html#a-label)"),
        ("{ref}`there <a-label>`", f"[there]({BOOK}part/other.html#a-label)"),
        ("by {eq}`eq-one`", f"by [(2.1)]({BOOK}part/page.html#equation-eq-one)"),
        ("{eq}`eq-far`", f"[(3.4)]({BOOK}part/other.html#equation-eq-far)"),
        ("{cite:p}`elman1990`", f"([Elman, 1990]({BOOK}bibliography.html))"),
        (
            "{cite:p}`elman1990,hochreiter1997`",
            f"([Elman, 1990; Hochreiter and Schmidhuber, 1997]({BOOK}bibliography.html))",
        ),
        ("{cite:t}`hochreiter1997`", f"[Hochreiter and Schmidhuber (1997)]({BOOK}bibliography.html)"),
        ("is {glue:text}`acc:.4f` here", f"is [`acc`]({BOOK}part/page.html) here"),
        ("{glue:md}`table`", f"[`table`]({BOOK}part/page.html)"),
        ("{math}`x^2`", "$x^2$"),
        ("$$\nh = 1\n$$ (eq-one)", "$$\nh = 1\n\\tag{2.1}\n$$"),
        ("(a-label)=\n## A section", "## A section"),
        ("```python\nx = {term}`kept`\n```", "```python\nx = {term}`kept`\n```"),
    ],
)
def test_myst_becomes_plain_markdown(index, myst, markdown):
    assert index.to_markdown(myst, "book/part/page") == markdown


def test_a_dropdown_becomes_details_and_an_admonition_a_quote(index):
    myst = (
        ":::{admonition} Solution\n:class: dropdown\n\nThe answer is {term}`LSTM`.\n\n```python\nx = 1\n```\n:::\n\n"
        ":::{admonition} The source says `x`; in fact `y`\n:class: warning\n\nFirst line\n\nSecond {eq}`eq-one`\n:::\n\n"
        ":::{note}\nA note.\n:::"
    )
    assert index.to_markdown(myst, "book/part/page") == (
        "<details>\n<summary><b>Solution</b></summary>\n\n"
        f"The answer is [LSTM]({BOOK}glossary.html#term-LSTM).\n\n```python\nx = 1\n```\n\n</details>\n\n"
        "> **The source says `x`; in fact `y`**\n>\n> First line\n>\n"
        f"> Second [(2.1)]({BOOK}part/page.html#equation-eq-one)\n\n"
        "> **Note**\n>\n> A note."
    )


def test_glossary_anchors_are_the_ids_sphinx_gives_terms():
    index = publish.BookIndex.of(REPO_ROOT)
    assert index.terms["hidden state"][1] == "term-hidden-state"
    assert index.terms["bptt"][1] == "term-backpropagation-through-time"  # a synonym: its entry's anchor
    assert index.terms["은닉 상태"][1] == "term-hidden-state"
    assert publish._sphinx_id("bidirectional RNN") == "bidirectional-RNN"


def test_equation_numbers_follow_the_chapter_numbers_of_the_toc():
    index = publish.BookIndex.of(REPO_ROOT)
    chapters = publish._numbered_chapters(
        yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    )
    first_page = next(page for page, number in chapters.items() if number == 2)
    labelled = re.findall(
        r"^\$\$\s*\(([\w-]+)\)", (REPO_ROOT / f"{first_page}.md").read_text(encoding="utf-8"), re.M
    )
    assert labelled, f"{first_page} has no labelled equation any more: pick another page for this test"
    assert index.equations[labelled[0]] == (first_page, "2.1")


# ------------------------------------------------------------------------------------------------
# The assignments' install cell


@pytest.mark.parametrize("path", SOLUTIONS + RELEASES, ids=rel)
def test_assignment_starts_with_the_locked_install_cell(path):
    notebook = nbtools.read(path)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert first.get("id") == publish.ASSIGNMENT_INSTALL_ID, f"{rel(path)}: run `make notebooks`"
    meta = nbtools.nbgrader_meta(first)
    assert meta.get("locked") is True and meta.get("grade") is False and meta.get("solution") is False
    assert meta.get("grade_id") == publish.ASSIGNMENT_INSTALL_ID
    assert f'"{EXPECTED_SPEC}"' in first.source
    if path in RELEASES:
        assert first.metadata.get("editable") is False and first.metadata.get("deletable") is False


def run_install_cell(source: str, rnncourse_found: bool) -> list[tuple[str, str]]:
    """Run a cell as IPython would (``%pip`` becomes a magic call); return the magics it called."""
    shell = mock.Mock()
    python = TransformerManager().transform_cell(source)
    real_find_spec = __import__("importlib.util").util.find_spec

    def find_spec(name, *args):
        if name == "rnncourse" and not rnncourse_found:
            return None
        return real_find_spec(name, *args)

    with mock.patch("importlib.util.find_spec", side_effect=find_spec):
        exec(compile(python, "<install cell>", "exec"), {"get_ipython": lambda: shell})
    return [call.args for call in shell.run_line_magic.call_args_list]


@pytest.mark.parametrize("path", SOLUTIONS[:1] + PAGES[:1], ids=rel)
def test_install_cell_does_nothing_where_the_package_is_importable_and_installs_it_elsewhere(path):
    if path.suffix == ".md":
        source = next(c for c in jupytext.read(path).cells if c.cell_type == "code").source
    else:
        source = next(
            c for c in nbtools.read(path).cells if c.get("id") == publish.ASSIGNMENT_INSTALL_ID
        ).source
    assert run_install_cell(source, rnncourse_found=True) == []  # locally, and in the grader's sandbox
    assert run_install_cell(source, rnncourse_found=False) == [("pip", f'install --quiet "{EXPECTED_SPEC}"')]
