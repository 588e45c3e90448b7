"""The built book, opened in headless Chromium: math rendered, figures loaded, glossary links resolve,
no console errors. Screenshots go to _build/screenshots/.

The book is the quick build of this test run (the ``quick_book`` fixture, ``tests/book_build.py``):
nothing is executed a second time here. It is served on 127.0.0.1 and driven through the Chrome
DevTools protocol with ``websocket-client`` (a dependency of jupyter_server), so no browser-automation
package is needed.

The machine may be offline, and the book loads MathJax from its CDN: the test answers those requests
from a local copy of MathJax 3 (the ``django-static-mathjax`` package, or ``$COURSE_MATHJAX_DIR``
pointing at a MathJax ``es5`` folder). Every other request that leaves 127.0.0.1 is refused.
"""

import base64
import functools
import http.server
import json
import mimetypes
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from book_build import toc_entries
from prerequisites import REPO_ROOT, find_chromium, find_mathjax_es5

SCREENSHOTS = REPO_ROOT / "_build" / "screenshots"
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,1000",
    "--remote-allow-origins=*",
    "--remote-debugging-port=0",
]
TIMEOUT = 60  # seconds for one page to load and typeset

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium", "websocket-client", "mathjax", "jupyter-book")]


# --------------------------------------------------------------------------------------------------
# What to open


def pages_to_check(html_dir: Path) -> dict[str, str]:
    """{screenshot name: page path in the site}: index, the model theory chapter, a lab, reference pages."""
    wanted = {"index": "book/intro", "simple_rnn_numpy": "book/rnn_basics/simple_rnn_numpy"}
    labs = [entry for entry in toc_entries() if entry.startswith("book/labs/")]
    assert labs, "_toc.yml lists no lab (book/labs/...)"
    lab = "lab_" + Path(labs[0]).name
    wanted[lab] = labs[0]
    for name, entry in (
        ("glossary", "book/glossary"),
        ("errata", "book/appendix/errata"),
        ("model_comparison", "book/results/model_comparison"),
    ):
        wanted[name] = entry
    pages = {
        name: f"{entry}.html" for name, entry in wanted.items() if (html_dir / f"{entry}.html").is_file()
    }
    missing = {"index", "simple_rnn_numpy", lab} - set(pages)
    assert not missing, f"the built book in {html_dir} lacks {sorted(missing)}"
    return pages


# --------------------------------------------------------------------------------------------------
# Fixtures: the built book, a local web server, MathJax, Chromium


@pytest.fixture(scope="session")
def chromium() -> str:
    return find_chromium()


@pytest.fixture(scope="session")
def mathjax_es5() -> Path:
    return find_mathjax_es5()


@pytest.fixture(scope="session")
def built_book(quick_book) -> Path:
    """The html folder of this run's quick build (a failed build is reported by test_book_pages)."""
    assert (quick_book.html_dir / "index.html").is_file(), f"no built book in {quick_book.html_dir}"
    return quick_book.html_dir


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@pytest.fixture(scope="session")
def site(built_book) -> str:
    """Base URL of the built book, served on 127.0.0.1 at a free port."""
    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's websocket."""

    def __init__(self, websocket_url: str, mathjax_es5: Path, site: str):
        import websocket

        self.socket = websocket.create_connection(websocket_url, timeout=TIMEOUT, suppress_origin=True)
        self.mathjax_es5 = mathjax_es5
        self.site = site
        self.next_id = 0
        self.errors: list[str] = []

    def send(self, method: str, **params) -> int:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def call(self, method: str, **params) -> dict:
        """Send a command and wait for its answer, handling the events that arrive meanwhile."""
        wanted = self.send(method, **params)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.on_event(message["method"], message.get("params", {}))
        raise TimeoutError(f"no answer to {method} within {TIMEOUT} s")

    def on_event(self, method: str, params: dict) -> None:
        if method == "Fetch.requestPaused":
            self.answer_request(params)
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(
                f"exception: {details.get('exception', {}).get('description', details['text'])}"
            )
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            self.errors.append(
                "console.error: "
                + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip())

    def answer_request(self, params: dict) -> None:
        """Serve the MathJax CDN from the local copy, let the local site through, refuse the rest."""
        url, request_id = params["request"]["url"], params["requestId"]
        if url.startswith(self.site):
            self.send("Fetch.continueRequest", requestId=request_id)
            return
        if url.startswith(MATHJAX_CDN):
            path = (self.mathjax_es5 / url[len(MATHJAX_CDN) :].split("?")[0]).resolve()
            if path.is_file() and path.is_relative_to(self.mathjax_es5.resolve()):
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if path.suffix == ".js":
                    content_type = "application/javascript"
                self.send(
                    "Fetch.fulfillRequest",
                    requestId=request_id,
                    responseCode=200,
                    responseHeaders=[
                        {"name": "Content-Type", "value": content_type},
                        {"name": "Access-Control-Allow-Origin", "value": "*"},
                    ],
                    body=base64.b64encode(path.read_bytes()).decode("ascii"),
                )
                return
        self.errors.append(f"request leaving the site: {url}")
        self.send("Fetch.failRequest", requestId=request_id, errorReason="InternetDisconnected")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.errors.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + TIMEOUT
        while self.evaluate("document.readyState") != "complete":
            assert time.monotonic() < deadline, f"{url} did not finish loading"
            time.sleep(0.1)

    def close(self) -> None:
        self.socket.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser(chromium, mathjax_es5, site):
    """A headless Chromium page under DevTools control; every request is intercepted."""
    profile = tempfile.mkdtemp(prefix="course-chromium-")
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert process.poll() is None, f"Chromium exited with code {process.returncode}"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.loads(no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT).read())
        page = next(target for target in targets if target["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"], mathjax_es5, site)
        for domain in ("Page", "Runtime", "Log"):
            devtools.call(f"{domain}.enable")
        devtools.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        devtools.call("Network.setCacheDisabled", cacheDisabled=True)
        yield devtools
        devtools.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The checks, run in the page

WAIT_FOR_MATHJAX = """
(async () => {
  // Sphinx loads MathJax only on pages with math; a page without it has nothing to typeset (a page
  // with math elements but no MathJax output is caught by the report's mathSources check)
  if (!document.querySelector("script[src*='mathjax']")) return "ok";
  const start = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - start > TIMEOUT_MS) return "MathJax never started";
    await new Promise(r => setTimeout(r, 50));
  }
  await MathJax.startup.promise;
  return "ok";
})()
""".replace("TIMEOUT_MS", str(1000 * TIMEOUT))

PAGE_REPORT = """
(async () => {
  const visible = document.querySelector("main") || document.body;
  const copy = visible.cloneNode(true);
  copy.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(e => e.remove());
  const text = copy.textContent;
  const images = [...document.images].map(img => ({src: img.currentSrc || img.src,
      ok: img.complete && img.naturalWidth > 0}));
  const termLinks = [...document.querySelectorAll("a[href*='#term-']")].map(a => a.href);
  const missingTerms = [];
  const pages = {};
  for (const href of new Set(termLinks)) {
    const url = new URL(href);
    const key = url.origin + url.pathname;
    if (!(key in pages)) {
      pages[key] = key === location.origin + location.pathname ? document
        : new DOMParser().parseFromString(await (await fetch(key)).text(), "text/html");
    }
    if (!pages[key].getElementById(decodeURIComponent(url.hash.slice(1)))) missingTerms.push(href);
  }
  return {
    title: document.title,
    rawMath: ["$$", "\\\\(", "\\\\[", "\\\\begin{"].filter(s => text.includes(s)),
    mathSources: document.querySelectorAll(".math, span.math, div.math").length,
    mathRendered: document.querySelectorAll("mjx-container").length,
    mathErrors: document.querySelectorAll("mjx-merror").length,
    images, termLinks: termLinks.length, missingTerms,
    tables: visible.querySelectorAll("table").length,
    rawTables: [...visible.querySelectorAll("p")].filter(p => /^\\s*\\|.*\\|\\s*$/m.test(p.textContent))
        .map(p => p.textContent.slice(0, 80)),
    dropdowns: [...document.querySelectorAll(".admonition.dropdown")].map(box => ({
      button: box.querySelector(".toggle-button") !== null,
      hidden: box.classList.contains("toggle-hidden"),
    })),
  };
})()
"""


def check_page(browser, site: str, name: str, path: str) -> dict:
    browser.open(site + path)
    assert browser.evaluate(WAIT_FOR_MATHJAX) == "ok", f"{path}: MathJax did not start"
    report = browser.evaluate(PAGE_REPORT)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    report["errors"] = list(browser.errors)
    return report


def test_pages_render_in_chromium(browser, site, built_book):
    """Open each page; math typeset, images loaded, glossary targets present, console clean."""
    problems = []
    reports = {}
    for name, path in pages_to_check(built_book).items():
        report = reports[name] = check_page(browser, site, name, path)
        where = f"{path}:"
        if report["rawMath"]:
            problems.append(f"{where} raw TeX delimiters left in the visible text: {report['rawMath']}")
        if report["mathSources"] and report["mathRendered"] == 0:
            problems.append(f"{where} {report['mathSources']} math elements but no MathJax output")
        if report["mathErrors"]:
            problems.append(f"{where} {report['mathErrors']} MathJax errors")
        problems += [
            f"{where} image not loaded: {image['src']}" for image in report["images"] if not image["ok"]
        ]
        problems += [f"{where} glossary link to a missing anchor: {href}" for href in report["missingTerms"]]
        problems += [f"{where} a Markdown table left as raw text: {row!r}" for row in report["rawTables"]]
        problems += [f"{where} console: {error}" for error in report["errors"]]
    assert not problems, "\n".join(problems)
    # the theory chapter has display math, a figure and glossary links: make sure they were seen
    chapter = reports["simple_rnn_numpy"]
    assert chapter["mathRendered"] > 0, "no MathJax output in the SimpleRNN chapter"
    assert any(image["src"].endswith(".png") for image in chapter["images"]), (
        "no figure in the SimpleRNN chapter"
    )
    assert chapter["termLinks"] > 0, "no glossary links in the SimpleRNN chapter"
    # exercise solutions: dropdown admonitions, collapsed by sphinx-togglebutton until clicked
    assert chapter["dropdowns"], "no dropdown solutions in the SimpleRNN chapter"
    assert all(box["button"] and box["hidden"] for box in chapter["dropdowns"]), chapter["dropdowns"]
    assert all((SCREENSHOTS / f"{name}.png").stat().st_size > 10_000 for name in reports)
    # the model comparison shows its results as an HTML table (built from the result files)
    if "model_comparison" in reports:
        assert reports["model_comparison"]["tables"] > 0, "no table on the model-comparison page"


def test_launch_and_download_buttons_are_present(browser, site, built_book):
    """The theory chapter offers Binder, Colab, the repository, an issue link and .md / .ipynb downloads."""
    browser.open(site + "book/rnn_basics/simple_rnn_numpy.html")
    links = browser.evaluate("[...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')")
    expected = {
        "Binder": "https://mybinder.org/v2/gh/",
        "Colab": "https://colab.research.google.com/github/",
        "repository": "https://github.com/",
        "issue": "/issues/new",
        ".md download": "_sources/book/rnn_basics/simple_rnn_numpy.md",
        ".ipynb download": "_sources/book/rnn_basics/simple_rnn_numpy.ipynb",
    }
    missing = [label for label, fragment in expected.items() if not any(fragment in link for link in links)]
    assert not missing, f"missing header buttons: {missing}"
    # Colab opens only notebooks: the button must name the committed book/<page>.ipynb (`make notebooks`)
    colab = [link for link in links if link.startswith(expected["Colab"])]
    assert all(link.endswith("/book/rnn_basics/simple_rnn_numpy.ipynb") for link in colab), colab
    assert (built_book / "_sources" / "book" / "rnn_basics" / "simple_rnn_numpy.ipynb").is_file()
    assert (built_book / "search.html").is_file(), "the book has no search page"


DIAGRAM_PAGES = {
    "rnn_step": "book/rnn_basics/simple_rnn_numpy",
    "lstm_cell": "book/gated/lstm",
    "gru_cell": "book/gated/gru",
    "bidirectional": "book/gated/bidirectional",
}
# The figures of cells tagged hide-input (the cell diagrams: the picture shows, its code is one click away)
DIAGRAM_BOXES = """
[...document.querySelectorAll(".tag_hide-input img")].map(img => ({
  src: img.currentSrc, ok: img.complete && img.naturalWidth > 0, width: img.getBoundingClientRect().width,
  column: document.querySelector("main").getBoundingClientRect().width,
}))
"""


def test_cell_diagrams_load_fit_the_column_and_are_screenshotted(browser, site, built_book):
    """Each diagram page shows its drawn figure: loaded, at a readable width inside the column. The
    figures as served are copied to _build/screenshots/diagram_<name>_<n>.png."""
    problems = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, entry in DIAGRAM_PAGES.items():
        browser.open(site + f"{entry}.html")
        boxes = browser.evaluate(DIAGRAM_BOXES)
        if not boxes:
            problems.append(f"{entry}: no figure drawn by a hide-input cell")
            continue
        for index, box in enumerate(boxes):
            if not box["ok"]:
                problems.append(f"{entry}: diagram {index} did not load ({box['src']})")
            if not 0.5 * box["column"] <= box["width"] <= box["column"] + 1:
                problems.append(
                    f"{entry}: diagram {index} is {box['width']:.0f} px in a {box['column']:.0f} px column"
                )
            served = built_book / box["src"][len(site) :].split("?")[0]
            shutil.copyfile(served, SCREENSHOTS / f"diagram_{name}_{index}{served.suffix}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------------
# Layout at two widths: a desktop window and a phone

VIEWPORTS = {"desktop": (1280, 1000, False), "phone": (390, 844, True)}  # width, height, mobile
#: The smallest text a figure may show at 1280 px, in CSS pixels: its font size (the course style)
#: times the share of its natural width that the column leaves it.
MIN_FIGURE_TEXT_PX = 10.5


def min_figure_scale() -> float:
    from rnncourse.plotting import COURSE_STYLE

    text_px = COURSE_STYLE["font.size"] * COURSE_STYLE["figure.dpi"] / 72
    return MIN_FIGURE_TEXT_PX / text_px


# Everything inside the article that sticks out of its column without a scroll box between them; code
# and output blocks whose lines are cut (wider than their box); equation numbers that overlap their
# equation; figures scaled down so far that their text is unreadable.
LAYOUT_REPORT = """
(() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  const box = column.getBoundingClientRect();
  const describe = el => {
    const id = el.id ? "#" + el.id : "";
    const classes = el.classList.length ? "." + [...el.classList].slice(0, 2).join(".") : "";
    return el.tagName.toLowerCase() + id + classes + " " + JSON.stringify((el.textContent || "").trim().slice(0, 60));
  };
  const inScrollBox = el => {
    for (let e = el.parentElement; e && e !== column; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowX;
      if ((overflow === "auto" || overflow === "scroll") && e.getBoundingClientRect().right <= box.right + 1) return true;
    }
    return false;
  };
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const outside = [];
  for (const el of column.querySelectorAll("*")) {
    if (!visible(el) || el.closest("mjx-assistive-mml")) continue;  // MathJax's copy for screen readers
    const r = el.getBoundingClientRect();
    if ((r.right > box.right + 1 || r.left < box.left - 1) && !inScrollBox(el)) outside.push(describe(el));
  }
  // text tables (Keras' model summary, drawn with box characters) scroll in their box instead of wrapping
  const textTable = pre => /[\u2500-\u257f]/.test(pre.textContent);
  const cut = [...column.querySelectorAll("pre")].filter(visible)
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1 && !textTable(pre))
    .map(pre => describe(pre) + ` needs ${pre.scrollWidth} px in ${pre.clientWidth}`);
  const overlapping = [];
  for (const number of column.querySelectorAll(".math .eqno")) {
    const math = number.closest(".math").querySelector("mjx-math");
    if (!math || !visible(number)) continue;
    // the part of the equation that shows: a wide one scrolls inside its container
    const a = number.getBoundingClientRect(), m = math.getBoundingClientRect();
    const c = math.closest("mjx-container").getBoundingClientRect();
    const b = {left: Math.max(m.left, c.left), right: Math.min(m.right, c.right), top: m.top, bottom: m.bottom};
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      overlapping.push(describe(number));
  }
  const figures = [...column.querySelectorAll(".cell_output img")].filter(visible).map(img => ({
    src: img.currentSrc.split("/").pop(), scale: img.getBoundingClientRect().width / img.naturalWidth,
  }));
  const pageOverflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  return {column: box.width, outside, cut, overlapping, figures, pageOverflow};
})()
"""


def all_pages(html_dir: Path) -> dict[str, str]:
    """{screenshot name: page path} for every page of _toc.yml, plus the glossary and the bibliography."""
    entries = list(toc_entries())
    return {
        entry.removeprefix("book/").replace("/", "_"): f"{entry}.html"
        for entry in entries
        if (html_dir / f"{entry}.html").is_file()
    }


def set_viewport(browser, name: str) -> None:
    width, height, mobile = VIEWPORTS[name]
    browser.call(
        "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_page_fits_its_column(browser, site, built_book, viewport):
    """At 1280 px and at 390 px no page sticks out of its column except inside a scroll box, no code or
    output line is cut, no equation number overlaps its equation, and (at 1280 px) no figure is scaled
    down so far that its text is under MIN_FIGURE_TEXT_PX. Screenshots: _build/screenshots/<viewport>/<page>.png."""
    folder = SCREENSHOTS / viewport
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    pages = all_pages(built_book)
    assert len(pages) == len(list(toc_entries())), "a page of _toc.yml was not built"
    set_viewport(browser, viewport)
    try:
        for name, path in pages.items():
            browser.open(site + path)
            assert browser.evaluate(WAIT_FOR_MATHJAX) == "ok", f"{path}: MathJax did not start"
            report = browser.evaluate(LAYOUT_REPORT)
            shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
            (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
            where = f"{path} at {VIEWPORTS[viewport][0]} px:"
            if report["pageOverflow"] > 1:
                problems.append(f"{where} the page scrolls sideways by {report['pageOverflow']} px")
            problems += [f"{where} outside the column: {item}" for item in report["outside"][:5]]
            problems += [f"{where} line cut: {item}" for item in report["cut"][:5]]
            problems += [f"{where} equation number overlaps: {item}" for item in report["overlapping"]]
            if viewport == "desktop":
                problems += [
                    f"{where} figure {figure['src']} shown at {figure['scale']:.2f} of its size"
                    for figure in report["figures"]
                    if figure["scale"] < min_figure_scale()
                ]
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")
    assert not problems, "\n".join(problems)
    assert len(list(folder.glob("*.png"))) == len(pages)
