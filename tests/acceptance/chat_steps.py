"""A chat's tool steps and approval cards in Chromium: finding them, and answering an approval as a person does.

Shared by the browser tests of the steps (test_web_tool_steps.py) and the end-to-end approval
tests, where a real turn asks and waits: those find a call by its tool's name, since the call id
is the model's.
"""

from __future__ import annotations

from tests.acceptance.browser import expect, sync_api


def open_chat(page: sync_api.Page, url: str, chat_id: str) -> None:
    """Open one chat by its address and wait until its event stream is live."""
    page.goto(f"{url}/#/chats/{chat_id}")
    expect(page.get_by_test_id("connection-status")).to_have_text("Live")


def steps(page: sync_api.Page) -> sync_api.Locator:
    """Every tool call line on the page, in order."""
    return page.locator('[data-testid="turn"] [data-testid="step"]')


def step(page: sync_api.Page, call_id: str) -> sync_api.Locator:
    """The line of one call."""
    return page.locator(f'[data-testid="step"][data-call-id="{call_id}"]')


def approval_card(page: sync_api.Page, name: str) -> sync_api.Locator:
    """The approval card of the call to tool `name` that waits for a decision."""
    line = page.get_by_test_id("step").filter(has=page.get_by_test_id("step-approval")).filter(has=page.get_by_test_id("step-name").get_by_text(name, exact=True))
    return line.get_by_test_id("step-approval")


def decide_in_chat(page: sync_api.Page, name: str, allow: bool) -> sync_api.Response:
    """Click Allow or Deny on the approval card of the call to tool `name`; returns the server's answer to the POST it makes."""
    card = approval_card(page, name)
    expect(card).to_be_visible()
    with page.expect_response(lambda r: r.request.method == "POST" and "/approvals/" in r.url) as response:
        card.get_by_test_id("step-allow" if allow else "step-deny").click()
    return response.value
