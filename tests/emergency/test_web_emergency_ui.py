"""The Emergency stop card of the Settings page in a real headless Chromium, against a real gateway process."""

from __future__ import annotations

import httpx
import psycopg

from tests.acceptance.browser import ADMIN_USERNAME, browser, console, expect, open_page, page  # noqa: F401



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
