"""The Emergency stop card of the Settings page, and the lockdown banner of every page, in a real headless
Chromium against a real gateway process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psycopg

from tests import procs
from tests.acceptance.browser import ADMIN_USERNAME, browser, console, expect, new_page, open_page, page  # noqa: F401

LOCKDOWN_POLL = "/v1/status/lockdown"  # lockdown.js asks it every 2 s
BANNER_WAIT_MS = 5000  # the banner shows within seconds of the stop: one poll, not a page's next request


def test_an_admin_types_stop_and_the_page_shows_the_report_of_a_lockdown(stack, page) -> None:
    open_page(page, stack.url, "settings")
    button = page.get_by_test_id("emergency-stop")
    expect(button).to_be_disabled()
    page.get_by_test_id("emergency-reason").fill("drill from the browser")
    page.get_by_test_id("emergency-confirm").fill("stop")
    expect(button).to_be_disabled()  # only the exact word
    page.get_by_test_id("emergency-confirm").fill("STOP")

    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/emergency-stop")) as request:
        button.click()

    assert request.value.post_data_json == {"reason": "drill from the browser", "confirm": "STOP"}
    expect(page.get_by_test_id("emergency-outcome")).to_have_text("Soma is locked down: every step succeeded.")
    expect(page.get_by_test_id("emergency-step-access")).to_contain_text("access: ok")
    with psycopg.connect(stack.database_url) as conn:
        assert conn.execute("SELECT active, reason, started_by FROM lockdown").fetchall() == [(True, "drill from the browser", f"user:{ADMIN_USERNAME}")]
    assert httpx.get(stack.url + "/v1/sessions").json()["error"]["code"] == "lockdown"


def test_soma_emergency_stop_puts_a_lockdown_banner_on_every_open_page_stops_their_polling_and_the_lift_clears_it(
    stack, page, new_page, console, tmp_path: Path
) -> None:
    console.allow_http_errors(503)  # a card's request in flight when the lockdown fell
    open_page(page, stack.url, "settings")  # its Tunnel card polls /v1/tunnel
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    env = procs.soma_env(stack.database_url, data_dir=tmp_path, log_level="WARNING")

    stopped = procs.run_soma(env, "emergency-stop", "--reason", "drill", "--yes")

    assert stopped.returncode == 0, stopped.stderr
    banner = page.get_by_test_id("lockdown-banner")
    expect(banner).to_have_attribute("role", "alert", timeout=BANNER_WAIT_MS)
    expect(banner).to_contain_text("lockdown")
    since_banner = len(sent)
    for _ in range(2):  # two polls of the flag apart: a card polling every 2 s would have asked meanwhile
        with page.expect_request(lambda request: request.url.endswith(LOCKDOWN_POLL)):
            pass
    assert {url.removeprefix(stack.url) for url in sent[since_banner:]} == {LOCKDOWN_POLL}

    login = new_page()
    login.goto(stack.url + "/login")
    expect(login.get_by_role("alert").filter(has_text="lockdown")).to_be_visible()  # before anyone types

    lifted = procs.run_soma(env, "emergency-stop", "--lift", "--reason", "all clear")

    assert lifted.returncode == 0, lifted.stderr
    expect(login.get_by_test_id("lockdown-banner")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/login"))  # the page started afresh, and the stop had ended its login
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("lockdown-banner")).to_have_count(0)
