"""A turn's tool calls in the chat, in a real headless Chromium against a real gateway process.

The steps come from the event log: the test appends them with `events.append` as the worker
writes them (tests/tool_steps.py), while the page is open and before a reload, so what is drawn
live and what is rebuilt from the log are both checked. Allow and Deny are clicked on calls that
were decided first elsewhere, so the server refuses them (409) and the page must show its words.
The end-to-end approval through a real turn (allowed and denied) is test_web_tool_approvals.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests import tool_steps
from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401
from tests.acceptance.chat_steps import decide_in_chat, open_chat, step, steps

SCREENSHOTS = Path("/tmp")
PHONE = {"width": 390, "height": 844}
LONG_RESULT = "\n".join(f"{n}. a line of the file" for n in range(1, 301))
HOSTILE = '<img src=x onerror="window.pwned = 1"> <script>window.pwned = 2</script>'


def answer_steps(page: sync_api.Page) -> sync_api.Locator:
    return page.locator('[data-testid="message"][data-role="assistant"] [data-testid="step"]')


def expect_line(line: sync_api.Locator, name: str, state: str, status: str, duration: str = "") -> None:
    expect(line).to_have_attribute("data-state", state)
    expect(line.get_by_test_id("step-name")).to_have_text(name)
    expect(line.get_by_test_id("step-status")).to_have_text(status)
    expect(line.get_by_test_id("step-duration")).to_have_text(duration)


def expand(line: sync_api.Locator) -> None:
    toggle = line.get_by_test_id("step-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(line.get_by_test_id("step-body")).to_be_visible()


def test_tool_steps_show_while_they_run_survive_a_reload_once_each_and_stay_with_their_version(stack, page) -> None:
    worker = tool_steps.Worker(stack.database_url)
    chat_id = stack.new_session()
    asked = stack.send(chat_id, "Where are my notes?")["id"]
    open_chat(page, stack.url, chat_id)
    expect(page.get_by_test_id("turn-pending")).to_be_visible()

    worker.turn_started(chat_id, asked)
    worker.started(chat_id, asked, "call-1", "search_memory", '{"query": "notes"}')
    first = step(page, "call-1")
    expect_line(first, "search_memory", "running", "Running")
    expect(first.get_by_test_id("step-server")).to_be_hidden()  # Soma's own tools are not labelled with a server
    expect(first.get_by_test_id("step-toggle")).to_have_attribute("aria-expanded", "false")
    expect(first.get_by_test_id("step-body")).to_be_hidden()
    worker.started(chat_id, asked, "call-2", "read_lines", {"path": "/srv/notes.txt"}, server="files")
    worker.finished(chat_id, asked, "call-1", "search_memory", "1. Notes live in /srv/notes.txt", duration_ms=8)
    worker.finished(chat_id, asked, "call-2", "read_lines", HOSTILE + "\n" + LONG_RESULT, duration_ms=1530)
    worker.started(chat_id, asked, "call-3", "fetch", {"url": "https://example.com/notes"}, server="web")
    # The worker dies with call-3 in flight; the resumed turn starts over and runs it once more.
    worker.turn_started(chat_id, asked)
    worker.started(chat_id, asked, "call-3", "fetch", {"url": "https://example.com/notes"}, server="web")
    worker.finished(chat_id, asked, "call-3", "fetch", "", ok=False, duration_ms=95000, error="The server 'web' did not answer within 120 s.")

    expect(steps(page)).to_have_count(3)
    expect_line(first, "search_memory", "ok", "Done", "8 ms")
    second, third = step(page, "call-2"), step(page, "call-3")
    expect_line(second, "read_lines", "ok", "Done", "1.5 s")
    expect(second.get_by_test_id("step-server")).to_have_text("files")
    expect_line(third, "fetch", "error", "Failed", "1 min 35 s")

    expand(first)
    expect(first.get_by_test_id("step-arguments")).to_have_text(json.dumps({"query": "notes"}, indent=2))
    expect(first.get_by_test_id("step-result")).to_have_text("1. Notes live in /srv/notes.txt")
    expand(second)
    result = second.get_by_test_id("step-result")
    expect(result).to_have_text(HOSTILE + "\n" + LONG_RESULT)  # the tool's words as text, never as HTML
    assert page.locator('[data-testid="steps"] img, [data-testid="steps"] script').count() == 0
    assert page.evaluate("window.pwned") is None
    assert result.evaluate("(el) => el.scrollHeight > el.clientHeight + 100")  # a long result scrolls inside its line
    expand(third)
    expect(third.get_by_test_id("step-error")).to_have_text("The server 'web' did not answer within 120 s.")
    expect(third.get_by_test_id("step-result")).to_be_hidden()
    page.screenshot(path=str(SCREENSHOTS / "soma-tool-steps-running.png"))

    worker.answer(chat_id, asked, "Your notes are in **/srv/notes.txt**.")
    answer = page.locator('[data-testid="message"][data-role="assistant"]')
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.get_by_test_id("message-content")).to_have_text("Your notes are in /srv/notes.txt.")
    expect(answer_steps(page)).to_have_count(3)  # inside the stored answer, above its text
    expect(first.get_by_test_id("step-toggle")).to_have_attribute("aria-expanded", "true")  # the same lines, as the reader left them
    page.screenshot(path=str(SCREENSHOTS / "soma-tool-steps.png"), full_page=True)

    page.reload()
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer_steps(page)).to_have_count(3)
    expect(answer_steps(page).get_by_test_id("step-name")).to_have_text(["search_memory", "read_lines", "fetch"])
    expect_line(step(page, "call-1"), "search_memory", "ok", "Done", "8 ms")
    expect_line(step(page, "call-3"), "fetch", "error", "Failed", "1 min 35 s")
    expand(step(page, "call-2"))
    expect(step(page, "call-2").get_by_test_id("step-arguments")).to_have_text(json.dumps({"path": "/srv/notes.txt"}, indent=2))

    # Answered again: the new version shows the steps of its own run, the earlier one keeps its three.
    worker.turn_started(chat_id, asked)
    worker.started(chat_id, asked, "call-4", "search_knowledge", {"query": "notes"})
    expect(steps(page)).to_have_count(1)
    worker.finished(chat_id, asked, "call-4", "search_knowledge", "No passages.", duration_ms=40)
    worker.answer(chat_id, asked, "I found nothing new.", generation=2)
    expect(answer.get_by_test_id("version-label")).to_have_text("2/2")
    expect(answer_steps(page).get_by_test_id("step-name")).to_have_text(["search_knowledge"])
    answer.get_by_test_id("version-prev").click()
    expect(answer_steps(page).get_by_test_id("step-name")).to_have_text(["search_memory", "read_lines", "fetch"])
    page.reload()
    expect(answer.get_by_test_id("version-label")).to_have_text("2/2")
    expect(answer_steps(page).get_by_test_id("step-name")).to_have_text(["search_knowledge"])
    answer.get_by_test_id("version-prev").click()
    expect(answer_steps(page).get_by_test_id("step-name")).to_have_text(["search_memory", "read_lines", "fetch"])


def test_an_approval_asks_in_the_chat_posts_the_decision_and_shows_a_refusal_on_a_phone(stack, page, console) -> None:
    console.allow_http_errors(409)  # decided elsewhere first: the server refuses
    page.set_viewport_size(PHONE)
    worker = tool_steps.Worker(stack.database_url)
    chat_id = stack.new_session()
    asked = stack.send(chat_id, "Save this to my notes")["id"]
    open_chat(page, stack.url, chat_id)
    worker.turn_started(chat_id, asked)
    worker.approval(chat_id, asked, "call-a", "append", {"text": "buy milk"}, server="files", timeout_seconds=300)

    line = step(page, "call-a")
    card = line.get_by_test_id("step-approval")
    expect(line).to_have_attribute("data-state", "asking")
    expect(line.get_by_test_id("step-status")).to_have_text("Waiting for your approval")
    expect(card).to_have_attribute("role", "group")
    expect(card).to_contain_text("Soma asks to run append (files). Allow it?")
    expect(card.get_by_test_id("step-approval-arguments")).to_have_text(json.dumps({"text": "buy milk"}, indent=2))
    expect(card).to_contain_text("It waits up to 5 min for your answer.")
    expect(page.get_by_test_id("message-list")).not_to_have_attribute("aria-busy", "true")  # heard at once, not after the answer
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing wider than the phone
    page.screenshot(path=str(SCREENSHOTS / "soma-tool-approval-phone.png"))

    worker.decided_elsewhere(chat_id, "call-a", allow=True)  # another tab answered first
    response = decide_in_chat(page, "append", allow=True)
    assert response.request.post_data_json == {"allow": True}
    assert response.url == f"{stack.url}/v1/sessions/{chat_id}/approvals/call-a"
    assert response.status == 409
    expect(card.get_by_test_id("step-approval-error-message")).to_have_text(response.json()["error"]["message"])
    expect(card.get_by_test_id("step-allow")).to_be_enabled()  # refused: the reader may try again
    expect(card.get_by_test_id("step-deny")).to_be_enabled()

    # The call starts as decided elsewhere, and the buttons go; focus in the card goes to the line.
    card.get_by_test_id("step-deny").focus()
    worker.started(chat_id, asked, "call-a", "append", {"text": "buy milk"}, server="files")
    expect(card).to_have_count(0)
    expect(line.get_by_test_id("step-toggle")).to_be_focused()
    expect(line).to_have_attribute("data-state", "running")
    worker.finished(chat_id, asked, "call-a", "append", "Appended 1 line.", duration_ms=4)
    expect(line).to_have_attribute("data-state", "ok")

    worker.approval(chat_id, asked, "call-b", "delete_file", {"path": "/srv/notes.txt"}, server="files", timeout_seconds=30)
    worker.decided_elsewhere(chat_id, "call-b", allow=False)
    response = decide_in_chat(page, "delete_file", allow=False)
    assert response.request.post_data_json == {"allow": False}
    assert response.url == f"{stack.url}/v1/sessions/{chat_id}/approvals/call-b"
    denied = step(page, "call-b")
    expect(denied.get_by_test_id("step-approval-error-message")).to_have_text(response.json()["error"]["message"])
    worker.finished(chat_id, asked, "call-b", "delete_file", "", ok=False, duration_ms=0, error="The user denied this call.")
    expect(denied.get_by_test_id("step-approval")).to_have_count(0)
    expect(denied).to_have_attribute("data-state", "error")

    # A call still waiting when the answer is stored: the turn is over, so nothing can be decided.
    worker.approval(chat_id, asked, "call-c", "append", {"text": "and eggs"}, server="files")
    expect(step(page, "call-c").get_by_test_id("step-approval")).to_be_visible()
    worker.answer(chat_id, asked, "Saved one line; I did not delete the file.")
    expect(step(page, "call-c").get_by_test_id("step-approval")).to_have_count(0)
    expect(step(page, "call-c").get_by_test_id("step-status")).to_have_text("Not finished")
    expect(answer_steps(page)).to_have_count(3)

    page.reload()
    expect(answer_steps(page)).to_have_count(3)
    expect(page.get_by_test_id("step-approval")).to_have_count(0)  # every approval is settled in the log
    expect(answer_steps(page).get_by_test_id("step-status")).to_have_text(["Done", "Failed", "Not finished"])
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SCREENSHOTS / "soma-tool-steps-phone.png"), full_page=True)
