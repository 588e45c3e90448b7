"""Where the course is published, set once in ``_config.yml``, and everything derived from it.

``_config.yml`` names the repository (``repository: url`` and ``branch``); Jupyter Book builds the
launch buttons (Colab, Binder) and the repository links from it. This module writes the rest:

* the install cell, the hidden first code cell of every book page: it installs the course package
  from the repository when ``rnncourse`` is missing (Colab, Binder) and does nothing otherwise;
* the same cell, locked, at the top of every assignment (``solutions/<name>/<name>.ipynb``), and the
  student releases in ``assignments/`` regenerated from them when it changed;
* the install line of ``README.md``;
* the Colab copies ``book/**/<page>.ipynb``: each page's cells, with its MyST Markdown turned into what
  Jupyter renders (glossary terms, cross-references and citations as links to the published book,
  admonitions as quoted blocks, solutions folded in ``<details>``, glued values named and linked).

Run it from a checkout of the repository, in the course environment (PyYAML, jupytext, nbformat,
nbgrader); students never need it::

    python -m rnncourse.publish            # = make notebooks: rewrite whatever is out of date
    python -m rnncourse.publish --check    # list what is out of date; exit 1 if anything is
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The branch whose name the install URL leaves out (``git+URL`` installs the default branch).
DEFAULT_BRANCH = "main"

BOOK_INSTALL_CELL = """\
# Colab / Binder: install the course helpers when they are missing. Locally this does nothing.
import importlib.util

if importlib.util.find_spec("rnncourse") is None:
    %pip install --quiet "{spec}"
    importlib.invalidate_caches()"""

ASSIGNMENT_INSTALL_CELL = """\
# Colab: install the course helpers when they are missing. Locally, and when your notebook is graded,
# they are installed already and this cell does nothing.
import importlib.util

if importlib.util.find_spec("rnncourse") is None:
    %pip install --quiet "{spec}"
    importlib.invalidate_caches()"""

#: The nbgrader identity of the assignments' install cell: locked (read-only), never graded.
ASSIGNMENT_INSTALL_ID = "install"
INSTALL_CELL_TAG = "remove-input"

#: What marks a code cell as an install cell (the first code cell of a page or an assignment).
_INSTALL_MARK = 'find_spec("rnncourse")'
_INSTALL_SPEC = re.compile(r"rnncourse @ git\+[^\"'\s]+")


# --------------------------------------------------------------------------------------------------
# Where the course lives


@dataclass(frozen=True)
class Site:
    """The repository (``url``, ``branch``) and the published book's address (ends with ``/``)."""

    url: str
    branch: str
    book_url: str

    @property
    def install_spec(self) -> str:
        """What ``pip install`` is given: ``rnncourse @ git+URL`` (``@branch`` unless the default)."""
        spec = f"rnncourse @ git+{self.url}"
        return spec if self.branch == DEFAULT_BRANCH else f"{spec}@{self.branch}"

    def page_url(self, page: str, anchor: str = "") -> str:
        """The published HTML of a page given as ``book/part/page`` (no extension)."""
        return f"{self.book_url}{page}.html" + (f"#{anchor}" if anchor else "")


def published_book_url(repository: str) -> str:
    """GitHub or GitLab Pages address of a repository: ``https://github.com/o/r`` -> ``https://o.github.io/r/``."""
    parsed = urlparse(repository)
    parts = [part for part in parsed.path.split("/") if part]
    hosts = {"github.com": "github.io", "gitlab.com": "gitlab.io"}
    if parsed.hostname not in hosts or len(parts) != 2:
        raise ValueError(
            f"cannot tell where the book of {repository} is published: set html.baseurl in _config.yml"
        )
    owner, name = parts
    pages = f"{owner.lower()}.{hosts[parsed.hostname]}"
    return f"https://{pages}/" if name.lower() == pages else f"https://{pages}/{name}/"


def load_site(root: Path = REPO_ROOT) -> Site:
    """Read ``repository: url/branch`` (and ``html.baseurl``, if set) from ``root/_config.yml``."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repository = config.get("repository") or {}
    url = str(repository.get("url", "")).strip().rstrip("/").removesuffix(".git")
    if not url:
        raise ValueError("_config.yml has no repository: url")
    branch = str(repository.get("branch") or DEFAULT_BRANCH)
    book_url = (config.get("html") or {}).get("baseurl") or published_book_url(url)
    return Site(url=url, branch=branch, book_url=book_url.rstrip("/") + "/")


def book_install_cell(site: Site) -> str:
    return BOOK_INSTALL_CELL.format(spec=site.install_spec)


def assignment_install_cell(site: Site) -> str:
    return ASSIGNMENT_INSTALL_CELL.format(spec=site.install_spec)


# --------------------------------------------------------------------------------------------------
# The book's pages and what the Colab copies link to


def is_notebook_page(path: Path) -> bool:
    """A MyST Markdown notebook (jupytext header), as opposed to a plain Markdown page."""
    head = path.read_text(encoding="utf-8")[:500]
    return path.suffix == ".md" and head.startswith("---") and "format_name: myst" in head


def notebook_pages(root: Path = REPO_ROOT) -> list[Path]:
    """Every MyST notebook page under ``book/`` that has a code cell (those get a Colab copy)."""
    return [
        path
        for path in sorted((root / "book").rglob("*.md"))
        if is_notebook_page(path) and re.search(r"^```\{code-cell\}", path.read_text(encoding="utf-8"), re.M)
    ]


def _sphinx_id(text: str) -> str:
    """The HTML id Sphinx derives from a name (``sphinx.util.nodes._make_id``): ASCII, hyphens, case kept."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-zA-Z0-9]+", "-", " ".join(text.split()))
    return re.sub(r"^[-0-9]+|-+$", "", text)


def _latex_to_text(text: str) -> str:
    """Enough of BibTeX's LaTeX for names and titles: accents (``{\\"u}``) and braces."""
    accents = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303"}
    text = re.sub(
        r"\{?\\([\"'`^~])\{?(\w)\}?\}?", lambda m: unicodedata.normalize("NFC", m[2] + accents[m[1]]), text
    )
    return text.replace("{", "").replace("}", "")


def _front_matter_end(text: str) -> int:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return end + 5
    return 0


@dataclass
class BookIndex:
    """What the Markdown of a page refers to: page titles, labels, equations, glossary terms, references."""

    root: Path
    site: Site
    titles: dict[str, str] = field(default_factory=dict)  # "book/x/y" -> its first heading
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (page, heading)
    equations: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (page, "2.1")
    terms: dict[str, tuple[str, str]] = field(default_factory=dict)  # term (lower case) -> (text, anchor)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)  # bib key -> (authors, year)
    glossary_page: str = "book/glossary"
    bibliography_page: str = "book/bibliography"

    @classmethod
    def of(cls, root: Path = REPO_ROOT, site: Site | None = None) -> BookIndex:
        index = cls(root=root, site=site or load_site(root))
        index._read_pages()
        index._read_glossary()
        index._read_references()
        return index

    def _read_pages(self) -> None:
        import yaml

        chapters = _numbered_chapters(yaml.safe_load((self.root / "_toc.yml").read_text(encoding="utf-8")))
        for path in sorted((self.root / "book").rglob("*.md")):
            page = path.relative_to(self.root).with_suffix("").as_posix()
            lines = path.read_text(encoding="utf-8")[_front_matter_end(path.read_text(encoding="utf-8")) :]
            lines = lines.splitlines()
            pending_labels, fence, number = [], None, 0
            for line in lines:
                if fence:
                    if line.strip() == fence:
                        fence = None
                    continue
                if line.startswith("```"):  # code cells and code in the prose: no heading, no math
                    fence = re.match(r"^`+", line)[0]
                    continue
                if label := re.match(r"^\(([\w-]+)\)=\s*$", line):
                    pending_labels.append(label[1])
                    continue
                heading = re.match(r"^#{1,6}\s+(.*\S)", line)
                target = heading or re.match(r"^:{3,}\{[\w-]+\}\s*(.*\S)", line)  # or a directive's title
                if heading:
                    self.titles.setdefault(page, heading[1])
                if target:
                    for name in pending_labels:
                        self.labels[name] = (page, target[1])
                    pending_labels = []
                elif line.strip():
                    pending_labels = []
                if equation := re.match(r"^\$\$\s*\(([\w-]+)\)\s*$", line):
                    number += 1
                    chapter = chapters.get(page)
                    self.equations[equation[1]] = (page, f"{chapter}.{number}" if chapter else str(number))

    def _read_glossary(self) -> None:
        path = self.root / f"{self.glossary_page}.md"
        if not path.is_file():
            return
        body = path.read_text(encoding="utf-8").split("```{glossary}", 1)[-1].split("\n```", 1)[0]
        entry: list[str] = []
        for line in body.splitlines() + [""]:
            if line.strip() and not line.startswith((" ", "\t", ":")):
                entry.append(line.strip())
                continue
            if entry:  # the entry's first term carries the anchor every one of its names links to
                anchor = "term-" + _sphinx_id(entry[0])
                for term in entry:
                    self.terms[" ".join(term.lower().split())] = (term, anchor)
                entry = []

    def _read_references(self) -> None:
        path = self.root / "book" / "references.bib"
        if not path.is_file():
            return
        for entry in re.split(r"\n(?=@)", path.read_text(encoding="utf-8")):
            key = re.match(r"@\w+\{([^,\s]+),", entry)
            author = re.search(r"^\s*author\s*=\s*\{(.*)\},?\s*$", entry, re.M)
            year = re.search(r"^\s*year\s*=\s*\{?(\d{4})", entry, re.M)
            if not (key and author and year):
                continue
            names = [_latex_to_text(name).strip() for name in author[1].split(" and ")]
            last = [name.split(",")[0].strip() if "," in name else name.split()[-1] for name in names]
            if len(last) == 1:
                authors = last[0]
            elif len(last) == 2:
                authors = f"{last[0]} and {last[1]}"
            else:
                authors = f"{last[0]} et al."
            self.references[key[1]] = (authors, year[1])

    # ---- the Markdown of the Colab copies

    def resolve_page(self, target: str, page: str) -> str:
        """``{doc}`` target -> ``book/x/y``: relative to the page's folder, or absolute from the book root."""
        if target.startswith("/"):
            return target.strip("/").removesuffix(".md")
        parts = page.split("/")[:-1]
        for piece in target.removesuffix(".md").split("/"):
            if piece == "..":
                parts = parts[:-1]
            elif piece not in ("", "."):
                parts.append(piece)
        return "/".join(parts)

    def role(self, name: str, content: str, page: str) -> str:
        """One MyST role, written as plain Markdown (links to the published book)."""
        text, target = _split_target(content)
        if name == "term":
            key = " ".join((target or text).lower().split())
            _, anchor = self.terms.get(key, (text, "term-" + _sphinx_id(target or text)))
            return f"[{text}]({self.site.page_url(self.glossary_page, anchor)})"
        if name == "doc":
            linked = self.resolve_page(target or text, page)
            title = text if target else self.titles.get(linked, linked.rsplit("/", 1)[-1])
            return f"[{title}]({self.site.page_url(linked)})"
        if name in ("ref", "numref"):
            label = target or text
            linked, heading = self.labels.get(label, (page, label))
            return f"[{text if target else heading}]({self.site.page_url(linked, label)})"
        if name == "eq":
            linked, number = self.equations.get(content, (page, content))
            return f"[({number})]({self.site.page_url(linked, 'equation-' + content)})"
        if name.startswith("cite"):
            return self.citation(name, content)
        if name.startswith("glue"):
            key = content.split(":", 1)[0].strip()
            return f"[`{key}`]({self.site.page_url(page)})"
        if name == "math":
            return f"${content}$"
        return text  # any other role: its text (sub, sup, abbr...)

    def citation(self, name: str, content: str) -> str:
        keys = [key.strip() for key in content.split(",") if key.strip()]
        cited = [self.references.get(key, (key, "n.d.")) for key in keys]
        url = self.site.page_url(self.bibliography_page)
        if name in ("cite:t", "cite:ts"):
            return ", ".join(f"[{authors} ({year})]({url})" for authors, year in cited)
        return "([" + "; ".join(f"{authors}, {year}" for authors, year in cited) + f"]({url}))"

    def to_markdown(self, source: str, page: str) -> str:
        """A Markdown cell of a MyST page, as Jupyter renders it: no role, directive or label left."""
        return _inline(_blocks(source.splitlines(), self, page), self, page)


def _numbered_chapters(toc: dict) -> dict[str, int]:
    """``book/x/y`` -> chapter number: chapters of numbered parts, counted on across parts."""
    chapters: dict[str, int] = {}
    for part in toc.get("parts", []):
        if part.get("numbered"):
            for chapter in part.get("chapters", []):
                if "file" in chapter:
                    chapters[chapter["file"]] = len(chapters) + 1
    return chapters


def _split_target(content: str) -> tuple[str, str | None]:
    """``text <target>`` -> (text, target); ``target`` -> (target, None)."""
    match = re.match(r"^(.*?)\s*<([^<>]+)>\s*$", content, re.S)
    if match and match[1]:
        return " ".join(match[1].split()), match[2].strip()
    return " ".join(content.split()), None


_ROLE = re.compile(r"\{(?P<name>[a-z][\w:-]*)\}`(?P<content>[^`]+)`")
_OPENING = re.compile(r"^(?P<fence>:{3,}|`{3,})\{(?P<name>[\w:-]+)\}\s*(?P<argument>.*?)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")


def _inline(text: str, index: BookIndex, page: str) -> str:
    """Roles -> Markdown, outside fenced code (a role may run over a line break)."""
    out: list[str] = []
    prose: list[str] = []
    fence = None

    def flush():
        if prose:
            joined = "\n".join(prose)
            out.append(_ROLE.sub(lambda m: index.role(m["name"], m["content"], page), joined))
            prose.clear()

    for line in text.split("\n"):
        bare = line.lstrip("> ").strip()
        if fence:
            out.append(line)
            if bare == fence:
                fence = None
        elif opening := re.match(r"^(`{3,})", bare):
            flush()
            fence = opening[1]
            out.append(line)
        else:
            prose.append(line)
    flush()
    return "\n".join(out)


def _blocks(lines: list[str], index: BookIndex, page: str) -> str:
    """Directives, labels and equation labels -> Markdown; everything else kept as it is."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = _OPENING.match(line)
        if re.match(r"^`{3,}(?!\{)", line):  # plain fenced code: copied untouched
            fence = re.match(r"^`+", line)[0]
            out.append(line)
            i += 1
            while i < len(lines):
                out.append(lines[i])
                i += 1
                if lines[i - 1].strip() == fence:
                    break
            continue
        if opening:
            fence = opening["fence"]
            i += 1
            options = {}
            while i < len(lines) and (option := _OPTION.match(lines[i])):
                options[option["key"]] = option["value"]
                i += 1
            body = []  # MyST nests a directive in a longer fence, so the first equal fence closes it
            while i < len(lines) and lines[i].strip() != fence:
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence
            out.extend(_directive(opening["name"], opening["argument"], options, body, index, page))
            continue
        if re.match(r"^\([\w-]+\)=\s*$", line):  # a target label: the HTML anchor only
            i += 1
            if out and not out[-1].strip() and i < len(lines) and not lines[i].strip():
                i += 1
            continue
        if equation := re.match(r"^\$\$\s*\(([\w-]+)\)\s*$", line):
            number = index.equations.get(equation[1], (page, ""))[1]
            if number:
                out.append(f"\\tag{{{number}}}")
            out.append("$$")
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _directive(name, argument, options, body, index: BookIndex, page: str) -> list[str]:
    content = _blocks(body, index, page).strip("\n")
    classes = options.get("class", "").split()
    if name.startswith("glue"):
        key = argument.split(":", 1)[0].strip()
        return [f"*(computed when you run the notebook: [`{key}`]({index.site.page_url(page)}))*"]
    if name in ("code", "code-block", "sourcecode"):
        return [f"```{argument}", *body, "```"]
    if name == "math":
        return ["$$", *body, "$$"]
    title = argument if name == "admonition" else (argument or name.capitalize())
    if name != "admonition" and argument:
        content = f"{argument}\n\n{content}"
        title = name.capitalize()
    if "dropdown" in classes or "toggle" in classes:
        summary = _inline(title, index, page)
        summary = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", summary)
        summary = re.sub(r"`([^`]+)`", r"<code>\1</code>", summary)
        return ["<details>", f"<summary><b>{summary}</b></summary>", "", content, "", "</details>"]
    quoted = [f"> **{title}**", ">"]
    quoted += [f"> {line}" if line.strip() else ">" for line in content.split("\n")]
    return quoted


def colab_notebook(page: Path, index: BookIndex, previous=None):
    """The Colab copy of a page: its cells, Markdown turned into plain Markdown, no outputs.

    Cell ids come from ``previous`` (the copy on disk) where a cell is unchanged, so that regenerating
    never churns them; new cells get ids derived from their content.
    """
    import jupytext

    name = page.relative_to(index.root).with_suffix("").as_posix()
    notebook = jupytext.read(page)
    uses_glue = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            uses_glue = uses_glue or bool(re.search(r"\{glue(:\w+)?\}`", cell.source))
            cell.source = index.to_markdown(cell.source, name)
    first_markdown = next((cell for cell in notebook.cells if cell.cell_type == "markdown"), None)
    if first_markdown is not None:
        note = f"*The notebook version of [this page of the book]({index.site.page_url(name)}).*"
        if uses_glue:
            note = (
                f"*The notebook version of [this page of the book]({index.site.page_url(name)}). Numbers "
                "that the book prints in the text appear here by name, in code font: the cells compute them "
                "when you run the notebook.*"
            )
        head, _, rest = first_markdown.source.partition("\n")
        if head.startswith("# "):
            first_markdown.source = f"{head}\n\n{note}" + (f"\n{rest}" if rest.strip() else "")
        else:
            first_markdown.source = f"{note}\n\n{first_markdown.source}"
    _assign_ids(notebook, previous, name)
    return notebook


def _assign_ids(notebook, previous, name: str) -> None:
    old = [] if previous is None else [(c.cell_type, c.source, c.get("id")) for c in previous.cells]
    used: set[str] = set()
    for position, cell in enumerate(notebook.cells):
        same = next(
            (i for t, s, i in old if t == cell.cell_type and s == cell.source and i and i not in used), None
        )
        if same is None and position < len(old):
            kind, _, candidate = old[position]
            same = candidate if kind == cell.cell_type and candidate and candidate not in used else None
        if same is None:
            digest = hashlib.sha1(f"{name}\n{position}\n{cell.source}".encode()).hexdigest()
            same = next(digest[k : k + 8] for k in range(0, 32) if digest[k : k + 8] not in used)
        cell["id"] = same
        used.add(same)


def colab_copy_text(page: Path, index: BookIndex) -> str:
    """The ``.ipynb`` text that ``make notebooks`` writes next to ``page``."""
    import jupytext
    import nbformat

    copy = page.with_suffix(".ipynb")
    previous = nbformat.read(copy, as_version=4) if copy.is_file() else None
    return jupytext.writes(colab_notebook(page, index, previous), fmt="ipynb")


# --------------------------------------------------------------------------------------------------
# Install cells: book pages, assignments, README


def with_install_cell(text: str, cell: str) -> str:
    """A MyST page whose first code cell is ``cell`` (tagged remove-input): replaced, or inserted."""
    start = _front_matter_end(text)
    opening = re.compile(r"^```\{code-cell\}[^\n]*\n", re.M).search(text, start)
    if opening is None:
        return text
    position = opening.end()
    header = ""
    if text.startswith("---\n", position):  # YAML options block
        end = text.index("\n---\n", position + 3) + 5
        header, position = text[position:end], end
    else:
        while option := re.compile(r"^:[\w-]+:.*\n").match(text, position):
            header += option[0]
            position = option.end()
    closing = re.compile(r"^```[ \t]*$", re.M).search(text, position)
    body = text[position : closing.start()]
    if _INSTALL_MARK in body:
        header = header or f":tags: [{INSTALL_CELL_TAG}]\n"
        separator = "" if header.startswith("---") else "\n"  # jupytext: a blank line after ":tags:"
        return text[: opening.end()] + header + separator + cell + "\n" + text[closing.start() :]
    block = f"```{{code-cell}} ipython3\n:tags: [{INSTALL_CELL_TAG}]\n\n{cell}\n```\n\n"
    return text[: opening.start()] + block + text[opening.start() :]


def with_assignment_install_cell(notebook, cell: str) -> bool:
    """Put the locked install cell first among the code cells of an nbgrader source; True if changed."""
    import nbformat

    existing = next((c for c in notebook.cells if c.get("id") == ASSIGNMENT_INSTALL_ID), None)
    metadata = {
        "nbgrader": {
            "grade": False,
            "grade_id": ASSIGNMENT_INSTALL_ID,
            "locked": True,
            "schema_version": 3,
            "solution": False,
        }
    }
    if existing is not None:
        changed = existing.source != cell or existing.metadata != metadata
        existing.source, existing.metadata = cell, metadata
        return changed
    new = nbformat.v4.new_code_cell(cell, metadata=metadata)
    new["id"] = ASSIGNMENT_INSTALL_ID
    first_code = next((i for i, c in enumerate(notebook.cells) if c.cell_type == "code"), len(notebook.cells))
    notebook.cells.insert(first_code, new)
    return True


def with_readme_install(text: str, site: Site) -> str:
    return _INSTALL_SPEC.sub(site.install_spec, text)


# --------------------------------------------------------------------------------------------------
# The command


@dataclass
class Change:
    path: Path
    new_text: str
    assignment: str | None = None  # a solution notebook: its release is regenerated too


def planned_changes(root: Path = REPO_ROOT) -> tuple[list[Change], list[Path], BookIndex]:
    """The install cells and README lines that differ from ``_config.yml``; the pages; their index."""
    import nbformat

    site = load_site(root)
    changes: list[Change] = []
    pages = notebook_pages(root)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        new = with_install_cell(text, book_install_cell(site))
        if new != text:
            changes.append(Change(page, new))
    index = BookIndex.of(root, site)
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        notebook = nbformat.read(source, as_version=4)
        if with_assignment_install_cell(notebook, assignment_install_cell(site)):
            changes.append(Change(source, nbformat.writes(notebook) + "\n", assignment=source.parent.name))
    readme = root / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if with_readme_install(text, site) != text:
            changes.append(Change(readme, with_readme_install(text, site)))
    return changes, pages, index


def publish(root: Path = REPO_ROOT, check: bool = False, releases: bool = True) -> list[Path]:
    """Bring every derived file up to date (or, with ``check``, only list them); return their paths."""
    changes, pages, index = planned_changes(root)
    out_of_date = [change.path for change in changes]
    if not check:
        for change in changes:
            change.path.write_text(change.new_text, encoding="utf-8")
    for page in pages:  # after the install cells: the copies carry them
        copy = page.with_suffix(".ipynb")
        expected = colab_copy_text(page, index)
        if not copy.is_file() or copy.read_text(encoding="utf-8") != expected:
            out_of_date.append(copy)
            if not check:
                copy.write_text(expected, encoding="utf-8")
    assignments = sorted({change.assignment for change in changes if change.assignment})
    if assignments and releases:
        if check:
            out_of_date += [root / "assignments" / name for name in assignments]
        elif root == REPO_ROOT:
            from autograder.release import generate_releases

            out_of_date += generate_releases(assignments)
    return out_of_date


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnncourse.publish", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is out of date"
    )
    args = parser.parse_args(argv)
    paths = publish(check=args.check)
    verb = "out of date:" if args.check else "wrote"
    for path in paths:
        print(f"{verb} {path.relative_to(REPO_ROOT)}")
    return 1 if args.check and paths else 0


if __name__ == "__main__":
    sys.exit(main())
