"""An ask-first tool through a real turn, in a real headless Chromium: the card in the chat, Allow and Deny.

Real processes: a gateway, a worker, the scripted SLM and the SDK-written scripted MCP server
(stdio), whose `append` is set to `ask` with PATCH /v1/tools/scripted/append. The SLM asks for
`scripted__append` in two turns of one chat: the reader allows the first call, which writes its
line, and denies the second, which never runs; both turns answer. What the page shows is checked
beside what happened: the file, the `tool.finished` events and what the SLM was told.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401
from tests.acceptance.chat_steps import approval_card, decide_in_chat, open_chat
from tests.procs import has_event, wait_until
from tests.tools.servers import stdio_entry

PHONE = {"width": 390, "height": 844}
ALLOWED = {"line": "buy milk"}
DENIED = {"line": "sell the car"}
DENIAL = "The user denied this call; it did not run."


def append(arguments: dict) -> dict:
    return {"tool_calls": [{"name": "scripted__append", "arguments": arguments}]}


def ask_in_chat(page: sync_api.Page, text: str) -> None:
    composer = page.get_by_test_id("composer-input")
    composer.fill(text)
    composer.press("Enter")


def expect_card(page: sync_api.Page, arguments: dict) -> None:
    card = approval_card(page, "append")
    expect(card).to_contain_text("Soma asks to run append (scripted). Allow it?")
    expect(card.get_by_test_id("step-approval-arguments")).to_have_text(json.dumps(arguments, indent=2))
    expect(card).to_contain_text("It waits up to 5 min for your answer.")


def test_an_ask_first_mcp_tool_runs_once_allowed_in_the_chat_and_never_once_denied(stack, page, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    put = stack.client.put(f"{stack.url}/v1/tools/servers/scripted", json=stdio_entry(env={"SCRIPTED_APPEND_FILE": str(notes)}))
    assert (put.status_code, put.json()["state"]) == (200, "connected"), put.text
    patch = stack.client.patch(f"{stack.url}/v1/tools/scripted/append", json={"enabled": True, "approval": "ask"})
    assert patch.status_code == 200, patch.text
    worker = stack.worker()
    wait_until(lambda: "tool server 'scripted': connected" in worker.output(), 60, "the worker to connect to the scripted server")
    stack.slm.script(append(ALLOWED), {"chunks": ["Added it to your notes."]}, append(DENIED), {"chunks": ["I left your notes as they were."]})
    chat_id = stack.new_session()
    open_chat(page, stack.url, chat_id)
    answers = page.locator('[data-testid="message"][data-role="assistant"]')

    ask_in_chat(page, "Add buy milk to my notes.")
    expect_card(page, ALLOWED)
    assert not notes.exists()  # it waits for the reader: nothing has run
    response = decide_in_chat(page, "append", allow=True)
    assert (response.status, response.json()["allow"], response.json()["server"]) == (200, True, "scripted")
    expect(answers.get_by_test_id("message-content")).to_have_text(["Added it to your notes."])
    allowed = answers.nth(0).get_by_test_id("step")
    expect(allowed).to_have_attribute("data-state", "ok")
    expect(allowed.get_by_test_id("step-status")).to_have_text("Done")
    allowed.get_by_test_id("step-toggle").click()
    expect(allowed.get_by_test_id("step-result")).to_have_text("appended 'buy milk'")
    assert notes.read_text() == "buy milk\n"

    page.set_viewport_size(PHONE)  # the second decision on a phone
    ask_in_chat(page, "And sell the car.")
    expect_card(page, DENIED)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the card fits the phone
    page.screenshot(path="/tmp/soma-tool-approval-real-turn-phone.png")
    response = decide_in_chat(page, "append", allow=False)
    assert (response.status, response.json()["allow"]) == (200, False)
    expect(answers.get_by_test_id("message-content")).to_have_text(["Added it to your notes.", "I left your notes as they were."])
    denied = answers.nth(1).get_by_test_id("step")
    expect(denied).to_have_attribute("data-state", "error")
    expect(denied.get_by_test_id("step-status")).to_have_text("Failed")
    denied.get_by_test_id("step-toggle").click()
    expect(denied.get_by_test_id("step-error")).to_have_text("denied")
    expect(denied.get_by_test_id("step-result")).to_have_text(DENIAL)
    page.screenshot(path="/tmp/soma-tool-approvals-real-turn-phone.png", full_page=True)

    assert notes.read_text() == "buy milk\n"  # the denied call never ran
    events = stack.events(chat_id, has_event("assistant.message", 2))
    calls = [(e["event"], e["data"]["arguments"]["line"] if "arguments" in e["data"] else None) for e in events if e["event"].startswith("tool.")]
    assert calls == [("tool.approval", "buy milk"), ("tool.started", "buy milk"), ("tool.finished", None), ("tool.approval", "sell the car"), ("tool.finished", None)]
    finished = [(e["data"]["name"], e["data"]["ok"], e["data"]["error"], e["data"]["result"]) for e in events if e["event"] == "tool.finished"]
    assert finished == [("append", True, None, "appended 'buy milk'"), ("append", False, "denied", DENIAL)]
    told = [r["body"]["messages"][-1] for r in stack.slm.requests()]  # what the SLM read after each call
    assert [(m["role"], m["content"]) for m in (told[1], told[3])] == [("tool", "appended 'buy milk'"), ("tool", DENIAL)]
