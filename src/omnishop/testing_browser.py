"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

What this plugin owns (docs/testing.md "Browser tests", /work/shared/BROWSER.md):
- `chromium_browser`, one Chromium per test session, the system build (`shutil.which("chromium")`, never a
  browser that `playwright install` downloads), started with the flags a root, offline machine needs;
- `browser_page`, a factory: `browser_page("phone")` or `browser_page("desktop")` gives a fresh context and
  page at that viewport, whose `base_url` is the live server, and which refuses every request to a host that
  is not loopback — the test fails if the page tried one (no asset from another host, STYLE.md);
- `assert_accessible(page)`, axe-core in the page, failing on `serious` and `critical` impacts;
- `screenshot(page, name)`, `docs/screenshots/<name>.png`, written only when OMNISHOP_SCREENSHOTS=1
  (`scripts/screenshots`), so an ordinary run never rewrites the committed images.

Tests carry the `browser` marker and run after every other test of the session (see the collection hook).
Without Chromium or the playwright package they are skipped with the
reason; `scripts/run-tests` installs Chromium, so CI runs them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # without these Chromium keeps opening connections of its own that an offline machine refuses
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 800}}
FAILING_IMPACTS = ("serious", "critical")
SCREENSHOTS_VARIABLE = "OMNISHOP_SCREENSHOTS"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LOOPBACK_NAMES = {"localhost"}
ANY_URL = re.compile(".*")


@pytest.hookimpl(trylast=True)  # after pytest-django has put transactional tests last
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Browser tests run last. While Playwright's sync API is alive its asyncio loop counts as running in
    this thread, which would turn every later ORM call into SynchronousOnlyOperation and every
    `asyncio.run()` into an error; with the browser tests at the end no other test runs beside it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def chromium_missing_reason() -> str | None:
    """Why browser tests cannot run on this machine, or None when they can."""
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright / axe-playwright-python are not installed (pip install -e '.[dev]')"
    if shutil.which("chromium") is None:
        return "Chromium is missing: apt-get install chromium (scripts/run-tests installs it)"
    return None


def is_loopback(url: str) -> bool:
    """True for addresses on this machine (and for data:/blob:/about: URLs, which reach no host)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = (parts.hostname or "").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session")
def chromium_browser():
    """The session's Chromium (skips the test when the machine has none)."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in this thread while it is alive; Django then refuses ORM
    # calls from the test body ("you cannot call this from an async context"). The tests are plain
    # synchronous code, so the guard only stands in the way here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class BrowserPages:
    """The `browser_page` fixture: call it with a viewport for a new page; `refused` lists the outside
    requests its pages attempted (a test about the guard itself may inspect and clear it)."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list = []
        self.refused: list[str] = []

    def _guard(self, route) -> None:
        request = route.request
        if is_loopback(request.url):
            route.continue_()
        else:
            self.refused.append(f"{request.method} {request.url}")
            route.abort("blockedbyclient")

    def _guard_web_socket(self, ws) -> None:
        if is_loopback(ws.url):
            ws.connect_to_server()
        else:
            self.refused.append(f"WEBSOCKET {ws.url}")
            ws.close()

    def __call__(self, viewport: str = "desktop"):
        if viewport not in VIEWPORTS:
            raise ValueError(f"viewport is one of {', '.join(VIEWPORTS)}")
        context = self.browser.new_context(
            viewport=VIEWPORTS[viewport], base_url=self.base_url, locale="en-GB", timezone_id="UTC"
        )
        context.set_default_timeout(10_000)
        context.route("**/*", self._guard)
        context.route_web_socket(ANY_URL, self._guard_web_socket)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@pytest.fixture
def browser_page(chromium_browser, live_server) -> Iterator[BrowserPages]:
    """`browser_page("phone" | "desktop")`: a fresh context and page on the live server at that viewport.

    Any request to a host that is not loopback is aborted, and the test fails at teardown naming it."""
    pages = BrowserPages(chromium_browser, live_server.url)
    yield pages
    pages.close()
    if pages.refused:
        pytest.fail("The page tried to reach outside hosts:\n  " + "\n  ".join(pages.refused), pytrace=False)


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(
            f"- [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} element(s)) {v['helpUrl']}"
        )
        lines.extend(f"    {' '.join(map(str, node['target']))}" for node in v["nodes"][:5])
    return "\n".join(lines)


def assert_accessible(page, *, impacts: tuple[str, ...] = FAILING_IMPACTS) -> None:
    """Fail when axe-core finds a violation of one of `impacts` (default: serious and critical)."""
    found = [v for v in axe_violations(page) if v.get("impact") in impacts]
    if found:
        pytest.fail(
            f"{len(found)} accessibility violation(s) on {page.url}:\n{format_violations(found)}",
            pytrace=False,
        )


def screenshots_enabled() -> bool:
    return os.environ.get(SCREENSHOTS_VARIABLE) == "1"


def screenshot(page, name: str) -> Path | None:
    """Write docs/screenshots/<name>.png (whole page) when OMNISHOP_SCREENSHOTS=1; otherwise nothing."""
    if not screenshots_enabled():
        return None
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
