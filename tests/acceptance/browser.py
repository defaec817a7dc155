"""Real headless Chromium for the web UI tests: the fixtures and helpers every test_web_*.py shares.

Needs Debian's chromium (scripts/install-browser.sh) and Playwright for Python (the dev extra);
`playwright install` is not used: the browser comes from the system. A test module uses it with

    from tests.acceptance.browser import browser, console, expect, page, requires_chromium  # noqa: F401
    pytestmark = requires_chromium
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # a turn goes through the queue, a worker and the SLM
VIEWPORT = {"width": 1200, "height": 760}

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/install-browser.sh to install Debian's chromium"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'")
expect = sync_api.expect
expect.set_options(timeout=WAIT_MS)

# How Chromium logs a response with an error status, which the page then shows in its own words.
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


@dataclass
class Console:
    """What went wrong in the page's scripts; the test fails on anything it did not allow."""

    problems: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    def allow_http_errors(self, *statuses: int) -> None:
        """Accept Chromium's own log line for responses with these statuses (the test provokes them)."""
        self.allowed_statuses.update(statuses)

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not self._allowed(p)]

    def _allowed(self, problem: str) -> bool:
        match = _FAILED_LOAD.search(problem)
        return bool(match) and int(match.group(1)) in self.allowed_statuses


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def console() -> Console:
    """The page's script errors; call console.allow_http_errors(413) before provoking a 413."""
    return Console()


@pytest.fixture
def page(browser: sync_api.Browser, console: Console) -> Iterator[sync_api.Page]:
    """A fresh browser context; fails the test on any uncaught script error or console error."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda exc: console.problems.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: console.problems.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    yield page
    context.close()
    assert not console.unexpected(), console.problems


def open_page(page: sync_api.Page, url: str, route: str) -> None:
    """Open the UI at #/<route> through its nav link, as a user would."""
    page.goto(url)
    page.get_by_test_id(f"nav-{route}").click()
    expect(page.get_by_test_id(f"nav-{route}")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id(f"{route}-page")).to_be_visible()
