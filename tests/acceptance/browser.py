"""Real headless Chromium for the web UI tests: the fixtures and helpers every test_web_*.py shares.

Needs Debian's chromium (scripts/install-browser.sh) and Playwright for Python (the dev extra);
`playwright install` is not used: the browser comes from the system. Without either, a browser test
fails, naming what to install; it never skips, so a green run always includes the UI tests
(`make test-fast` leaves every browser test out). A test module uses it with

    from tests.acceptance.browser import browser, console, expect, new_page, page  # noqa: F401

One Chromium runs per test process (the session fixture `chromium` in tests/conftest.py); every
test gets fresh browser contexts, so no cookie or storage passes from one test to the next.
`page` is logged in as an admin (ADMIN_USERNAME, created through the API with the bootstrap key);
`new_page()` opens another browser context with no cookies, e.g. for a second person.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
ADMIN_USERNAME = "ada"
ADMIN_PASSWORD = "analytical engine 1843"

# Run in a page (page.evaluate) before an upload: collects every value its progress bar shows in window.progressSeen.
RECORD_PROGRESS = """
() => {
  window.progressSeen = [];
  new MutationObserver((changes) => {
    for (const change of changes) window.progressSeen.push(Number(change.target.getAttribute("aria-valuenow")));
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["aria-valuenow"] });
}
"""

# Run in every page before its own scripts: whatever the Content-Security-Policy blocks (an inline
# style or script, a data: image) becomes a console error, which fails the test.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber}`);
});
"""

try:
    from playwright import sync_api
except ImportError as exc:  # a collection error, not a skip: the run fails
    raise ImportError("Playwright is not installed: pip install -e '.[dev]' (make test installs it)") from exc
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


@dataclass
class Chromium:
    """A Chromium kept for the whole test session, lent to one test at a time.

    Playwright's sync API keeps its own event loop marked as the thread's running loop between
    calls, which would stop every later asyncio test in this process ("Cannot run the event loop
    while another loop is running"); so the loop is marked running only while a browser test runs.
    """

    browser: sync_api.Browser
    _loop: asyncio.AbstractEventLoop

    @contextmanager
    def lent(self) -> Iterator[sync_api.Browser]:
        asyncio._set_running_loop(self._loop)  # what Playwright's sync calls expect between them
        try:
            yield self.browser
        finally:
            asyncio._set_running_loop(None)


def launch() -> Iterator[Chromium]:
    """Start Chromium (failing, never skipping, when it is missing) and stop it when the session ends."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser.sh to install Debian's chromium", pytrace=False)
    playwright = sync_api.sync_playwright().start()
    chromium = Chromium(
        playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True),
        asyncio.get_running_loop(),
    )
    asyncio._set_running_loop(None)
    try:
        yield chromium
    finally:
        with chromium.lent():
            chromium.browser.close()
            playwright.stop()


@pytest.fixture
def console() -> Console:
    """The page's script errors; call console.allow_http_errors(413) before provoking a 413."""
    return Console()


@contextmanager
def _pages(browser: sync_api.Browser, console: Console) -> Iterator[Callable[[], sync_api.Page]]:
    """Opens pages, each in a fresh browser context with its own cookies; closes them all at the end
    and then fails on any uncaught script error or console error in any of them."""
    contexts: list[sync_api.BrowserContext] = []

    def open_in_new_context(**options: object) -> sync_api.Page:
        """`options` go to new_context, e.g. viewport=PHONE, has_touch=True."""
        context = browser.new_context(**{"viewport": VIEWPORT, "accept_downloads": True, **options})
        contexts.append(context)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        page = context.new_page()
        page.on("pageerror", lambda exc: console.problems.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: console.problems.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
        return page

    try:
        yield open_in_new_context
    finally:
        for context in contexts:
            context.close()
    assert not console.unexpected(), console.problems


@pytest.fixture
def browser(chromium: Chromium) -> Iterator[sync_api.Browser]:
    """This process's Chromium, for this test."""
    with chromium.lent() as browser:
        yield browser


@pytest.fixture
def new_page(browser: sync_api.Browser, console: Console) -> Iterator[Callable[[], sync_api.Page]]:
    """new_page() opens a page in a fresh browser context: not logged in (e.g. a second person); new_page(viewport=…) another size."""
    with _pages(browser, console) as open_in_new_context:
        yield open_in_new_context


@pytest.fixture
def page(stack, browser: sync_api.Browser, console: Console) -> Iterator[sync_api.Page]:
    """A fresh browser context logged in as the admin ADMIN_USERNAME; fails the test on any script error."""
    with _pages(browser, console) as open_in_new_context:
        create_user(stack, ADMIN_USERNAME, ADMIN_PASSWORD, "admin")
        page = open_in_new_context()
        log_in(page, stack.url, ADMIN_USERNAME, ADMIN_PASSWORD)
        yield page


def create_user(stack, username: str, password: str, role: str) -> dict:
    """A user, created through the API with the bootstrap admin key."""
    response = stack.client.post(stack.url + "/v1/users", json={"username": username, "password": password, "role": role})
    assert response.status_code == 201, response.text
    return response.json()


def log_in(page: sync_api.Page, url: str, username: str, password: str) -> None:
    """Log in on the login page (`url`, or its /login), as a person would; returns once the app shows who is logged in."""
    page.goto(url if "/login" in url else url + "/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("account-name")).to_have_text(username)


def open_page(page: sync_api.Page, url: str, route: str) -> None:
    """Open the UI at #/<route> through its nav link, as a user would (on a narrow screen, from the Menu button)."""
    page.goto(url)
    menu, link = page.get_by_role("button", name="Menu"), page.get_by_test_id(f"nav-{route}")
    expect(menu.or_(link).first).to_be_visible()  # the app has drawn its nav: is_visible() does not wait
    if menu.is_visible():
        menu.click()
    link.click()
    expect(page.get_by_test_id(f"nav-{route}")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id(f"{route}-page")).to_be_visible()
