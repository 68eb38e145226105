"""The built website in a real browser: every page loads offline, math is typeset,
images load, nothing reaches another host, and exercise solutions start hidden.

Needs the site built first (``make book``; ``make test`` does it) and Chromium
(Debian's ``chromium``; ``.ci/run`` installs it). Locally, a missing site or browser
skips these tests with a message; under CI (``CI`` set) it fails them instead.
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import shutil
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static"}
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)


def _repository() -> str:
    """'owner/name' of the repository the launch buttons point to, from _config.yml."""
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return urllib.parse.urlsplit(url).path.strip("/")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


def site_pages() -> list[str]:
    if not SITE.is_dir():
        return []
    pages = [p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")]
    # index.html only redirects to the intro; test_index_redirects covers it.
    return sorted(p for p in pages if p.split("/")[0] not in SKIP_DIRS and p != "index.html")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        _unavailable(f"no built site at {SITE}: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        _unavailable("no Chromium found: install Debian's `chromium` to run the browser tests")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class PageReport:
    """What went wrong while one page loaded."""

    def __init__(self, page, origin: str):
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.route("**/*", functools.partial(self._route, origin=origin))

    def _route(self, route, origin):
        url = route.request.url
        host = urllib.parse.urlsplit(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()


BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src)"""

RAW_MATH = """() => {
    const body = document.querySelector('main') || document.body;
    const clone = body.cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, mjx-container, textarea')
        .forEach(e => e.remove());
    const text = clone.textContent;
    return ['$$', '\\\\(', '\\\\[', '\\\\begin{'].filter(s => text.includes(s));
}"""

MATH_COUNTS = """() => [document.querySelectorAll('.math').length,
                        document.querySelectorAll('mjx-container').length,
                        Array.from(document.querySelectorAll('mjx-merror'))
                             .map(e => e.getAttribute('data-mjx-error') || e.textContent)]"""


def open_page(browser, server, path):
    page = browser.new_page()
    page.set_default_timeout(90_000)  # long pages typeset slowly on a busy 2-core machine
    report = PageReport(page, server)
    page.goto(f"{server}/{path}", wait_until="load")
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.wait_for_load_state("networkidle")
    return page, report


def test_index_redirects_to_the_intro(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/index.html")
    page.wait_for_url("**/book/intro.html", timeout=10_000)
    assert "Normalization in Deep Learning" in page.title()
    page.close()


@pytest.mark.parametrize("path", site_pages() or ["book/intro.html"])
def test_page_loads_offline_with_math_and_images(browser, server, path):
    page, report = open_page(browser, server, path)
    try:
        assert report.foreign == [], f"requests to other hosts: {report.foreign}"
        assert report.errors == [], f"console errors: {report.errors}"
        assert page.evaluate(BROKEN_IMAGES) == [], "images that did not load"
        math, typeset, math_errors = page.evaluate(MATH_COUNTS)
        if math:
            assert typeset >= math, f"{math} math elements but {typeset} typeset by MathJax"
        assert math_errors == [], f"MathJax could not typeset: {math_errors}"
        assert page.evaluate(RAW_MATH) == [], "raw TeX left in the page"
    finally:
        page.close()


def test_solutions_are_hidden_until_clicked(browser, server):
    pages = [p for p in site_pages() if "solution" in (SITE / p).read_text(errors="ignore")]
    checked = 0
    for path in pages:
        page, _ = open_page(browser, server, path)
        for solution in page.locator("div.solution").all():
            body = solution.locator(":scope > :not(.admonition-title)").first
            assert not body.is_visible(), f"{path}: a solution is visible before a click"
            solution.locator(":scope > .admonition-title button, :scope > button").first.click()
            body.wait_for(state="visible", timeout=5000)
            checked += 1
        page.close()
    assert checked >= 3, f"expected at least 3 exercise solutions in the book, found {checked}"


def test_screenshot_of_a_chapter(browser, server):
    chapters = [p for p in site_pages() if p.startswith("book/foundations/")]
    assert chapters, "no chapter page found"
    page, _ = open_page(browser, server, chapters[0])
    page.set_viewport_size({"width": 1280, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / (pathlib.Path(chapters[0]).stem + ".png")
    page.screenshot(path=str(target))
    page.close()
    assert target.stat().st_size > 10_000


def test_chapters_have_launch_and_download_buttons(browser, server):
    chapters = [p for p in site_pages() if (ROOT / p).with_suffix(".ipynb").exists()]
    repository = _repository()
    assert chapters, "no notebook chapter found in the site"
    for path in chapters:
        html = (SITE / path).read_text()
        notebook = pathlib.Path(path).with_suffix(".ipynb").as_posix()
        assert f"mybinder.org/v2/gh/{repository}" in html, f"{path}: no Binder link"
        assert f"colab.research.google.com/github/{repository}" in html, f"{path}: no Colab link"
        page, _ = open_page(browser, server, path)
        # The download button links to the notebook copied into _sources (a local file).
        link = page.locator(f'a[href*="_sources/"][href$="{pathlib.Path(notebook).name}"]').first
        href = link.get_attribute("href")
        response = page.request.get(urllib.parse.urljoin(page.url, href))
        assert response.ok and b'"cells"' in response.body(), f"{path}: download link broken"
        page.close()


def test_search_finds_a_chapter(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/search.html?q=variance")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=10_000)
    assert results.count() >= 1
    page.close()


def test_figures_have_an_opaque_white_background():
    """A transparent figure shows black axis labels on the dark theme's dark background."""
    from PIL import Image

    images = sorted((SITE / "_images").glob("*.png")) if SITE.is_dir() else []
    if not images:
        _unavailable(f"no figures in {SITE / '_images'}: run `make book` first")
    for path in images:
        with Image.open(path) as image:
            rgba = image.convert("RGBA")
            corners = [
                rgba.getpixel((x, y)) for x in (0, rgba.width - 1) for y in (0, rgba.height - 1)
            ]
        assert all(pixel == (255, 255, 255, 255) for pixel in corners), f"{path.name}: {corners}"
