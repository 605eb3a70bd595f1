"""The docs site, built with `mkdocs build --strict` and looked at in a real headless Chromium at 1280 px.

Checks what a reader on a laptop screen needs: the reference pages fit the width (no table or
code block that scrolls sideways, nothing sticking out of the page), code is highlighted at
build time, search finds a method, and nothing is fetched from another host. Set
FASTWARE_SCREENSHOTS=DIR to keep a PNG of every page.

scripts/test.sh installs Debian's chromium package when it is missing (as root, with apt-get);
elsewhere the browser tests skip and say why.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, TIMEOUT

# The DevTools driver of the chat's browser test.
sys.path.insert(0, str(ROOT / "tests" / "chat"))
from chat_browser import CHROMIUM, Page, open_page

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium: scripts/test.sh installs Debian's chromium package when run as root with apt-get; "
    "or set FASTWARE_CHROMIUM to a Chromium executable",
)

WIDTH, HEIGHT = 1280, 800


def _nav_pages(entries: list[Any]) -> list[str]:
    """The URL of every page in mkdocs.yml's nav ("guide.md" -> "guide/", "index.md" -> "")."""
    pages = []
    for entry in entries:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            if isinstance(value, list):
                pages += _nav_pages(value)
            elif not value.startswith(("http://", "https://")):
                path = value.removesuffix(".md")
                pages.append(path.removesuffix("index") if path.split("/")[-1] == "index" else path + "/")
    return pages


# Every page of the nav, so a page added there is looked at too.
PAGES = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
# Pages where no table or code block may scroll sideways either (elsewhere a long code line may).
FIT_EVERY_BLOCK = {"api/", "messages/", "keepalive/"}

# Elements of the article whose content is wider than their box (a table or code block that
# scrolls sideways), or that reach past the content column's right edge.
OVERFLOW = """(() => {
  const article = document.querySelector('article.md-content__inner');
  const right = document.querySelector('.md-content').getBoundingClientRect().right + 1;
  const out = [];
  for (const el of article.querySelectorAll('*')) {
    if (el.closest('.md-tooltip, .md-clipboard')) continue;
    const wide = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
    const past = el.getClientRects().length > 0 && el.getBoundingClientRect().right > right;
    if (wide || past) out.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.slice(0, 60)}`);
  }
  return out;
})()"""
# The whole page scrolling sideways.
PAGE_OVERFLOW = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as scripts/test.sh builds it: strict, so a warning fails the build."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (search runs in a web worker, which file:// forbids)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_build_has_every_page_highlighted_code_and_no_escaped_pipe(site: Path) -> None:
    for path in PAGES:
        assert (site / path / "index.html").is_file(), path
    api = (site / "api" / "index.html").read_text()
    # Pygments at build time: spans with token classes, no highlight.js, no script from a CDN.
    assert '<div class="highlight">' in api and '<span class="k">async</span>' in api
    assert "highlight.js" not in api and "highlightjs" not in api
    assert "\\|" not in api and "\\|" not in (site / "messages" / "index.html").read_text()
    assert (site / "performance.json").is_file() and (site / "performance.svg").is_file()
    assert "```json" not in (site / "performance" / "index.html").read_text()


@contextlib.asynccontextmanager
async def _laptop(url: str) -> Any:
    async with open_page("about:blank", TIMEOUT) as page:
        await page.command(
            "Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False
        )
        await page.navigate(url)
        yield page


async def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("FASTWARE_SCREENSHOTS")
    if not folder:
        return
    shot = await page.command("Page.captureScreenshot", format="png")
    path = Path(folder) / f"{name or 'index'}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


@needs_chromium
@pytest.mark.parametrize("path", PAGES)
async def test_the_page_fits_1280_pixels_and_loads_nothing_from_elsewhere(served: str, path: str) -> None:
    async with _laptop(served + path) as page:
        await page.wait_for("document.querySelector('article.md-content__inner h1') !== null", "the article")
        assert await page.evaluate("window.innerWidth") == WIDTH
        assert not await page.evaluate(PAGE_OVERFLOW)
        if path in FIT_EVERY_BLOCK:
            assert await page.evaluate(OVERFLOW) == []
        resources = await page.evaluate("performance.getEntriesByType('resource').map(r => r.name)")
        assert [r for r in resources if not r.startswith(served)] == []
        await _screenshot(page, path.strip("/"))


@needs_chromium
async def test_search_finds_a_method(served: str) -> None:
    async with _laptop(served) as page:
        await page.evaluate(
            "(() => { const input = document.querySelector('input.md-search__input');"
            "input.focus(); input.value = 'receive_text';"
            "input.dispatchEvent(new Event('input', {bubbles: true})); return true; })()"
        )
        results = await page.wait_for(
            "Array.from(document.querySelectorAll('.md-search-result__item a'), a => a.href)", "search results"
        )
        assert any("/api/" in href and href.endswith("#receive_text") for href in results), results
        await _screenshot(page, "search")
