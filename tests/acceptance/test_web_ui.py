"""The chat page of the web UI in a real headless Chromium, against real gateway and worker processes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401

SCREENSHOT = Path("/tmp/soma-ui.png")
ANSWER = "Hello from the scripted SLM."



def messages(page: sync_api.Page, role: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="message"][data-role="{role}"] [data-testid="message-content"]')


def new_chat(page: sync_api.Page, url: str) -> str:
    """Open the UI, click New chat; returns the chat's id from the URL."""
    page.goto(url)
    expect(page.get_by_test_id("nav-chats")).to_have_attribute("aria-current", "page")
    page.get_by_test_id("new-chat").click()
    expect(page).to_have_url(re.compile(r"#/chats/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("connection-status")).to_have_text("Live")
    return page.url.rsplit("/", 1)[1]


def test_a_chat_streams_its_answer_and_survives_a_reload(stack, page) -> None:
    stack.worker()
    chat_id = new_chat(page, stack.url)
    current = page.locator('[data-testid="chat-item"][aria-current="page"]')
    expect(current).to_have_attribute("data-chat-id", chat_id)
    expect(current).to_have_text("New chat")

    composer = page.get_by_test_id("composer-input")
    send = page.get_by_test_id("send")
    expect(send).to_be_disabled()
    composer.fill("   ")
    expect(send).to_be_disabled()
    composer.fill("Line one")
    composer.press("Shift+Enter")
    composer.press_sequentially("line two")
    expect(composer).to_have_value("Line one\nline two")  # Shift+Enter is a newline, not a send
    expect(send).to_be_enabled()
    composer.fill("Hi there")
    composer.press("Enter")

    expect(messages(page, "user")).to_have_text(["Hi there"])
    expect(messages(page, "assistant")).to_have_text([ANSWER])
    expect(page.locator('[data-testid="message"][data-role="assistant"]')).to_have_attribute("data-state", "done")
    expect(composer).to_have_value("")
    expect(send).to_be_disabled()
    expect(current).to_have_text("Hi there")  # the first message became the chat's title
    expect(page.get_by_test_id("chat-title")).to_have_text("Hi there")
    page.screenshot(path=str(SCREENSHOT))

    page.reload()
    expect(page).to_have_url(re.compile(f"#/chats/{chat_id}$"))
    expect(current).to_have_attribute("data-chat-id", chat_id)
    expect(current).to_have_text("Hi there")
    expect(messages(page, "user")).to_have_text(["Hi there"])
    expect(messages(page, "assistant")).to_have_text([ANSWER])
    assert [(m["role"], m["content"]) for m in stack.messages(chat_id)] == [("user", "Hi there"), ("assistant", ANSWER)]


def test_a_failed_turn_and_a_refused_message_are_shown(stack, page, console) -> None:
    console.allow_http_errors(413)
    stack.slm.script({"status": 401})
    stack.worker()
    new_chat(page, stack.url)
    composer = page.get_by_test_id("composer-input")

    composer.fill("Are you there?")
    page.get_by_test_id("send").click()

    failed = page.get_by_test_id("turn-failed")
    expect(failed.get_by_test_id("turn-failed-reason")).to_have_text("slm_auth")
    expect(failed.get_by_test_id("turn-failed-message")).to_contain_text("SOMA_SLM_API_KEY")
    expect(messages(page, "assistant")).to_have_count(0)

    too_long = "x" * 16_001  # the gateway's default SOMA_MAX_MESSAGE_CHARS is 16000
    composer.fill(too_long)
    page.get_by_test_id("send").click()
    error = page.get_by_test_id("chat-error")
    expect(error).to_be_visible()
    expect(error.get_by_test_id("chat-error-code")).to_have_text("message_too_large")
    expect(error.get_by_test_id("chat-error-message")).to_contain_text("the limit is 16000")
    expect(composer).to_have_value(too_long)  # kept, so it can be shortened

    page.reload()
    expect(messages(page, "user")).to_have_text(["Are you there?"])
    expect(page.get_by_test_id("turn-failed-reason")).to_have_text("slm_auth")


TRANSCRIPT_SCRIPT = """
async () => {
  const { Transcript } = await import("/static/transcript.js");
  const list = document.createElement("ol");
  document.body.append(list);
  const transcript = new Transcript(list);
  // A streaming answer is drawn on the next animation frame: each snapshot waits for one.
  const snapshot = async () => {
    await new Promise(requestAnimationFrame);
    return [...list.children].map((li) => li.innerText.replace(/\\s+/g, " ").trim());
  };
  const user = (id, content) => ({ id, session_id: "s", role: "user", content, reply_to: null, meta: {}, created_at: "" });
  const steps = [];
  const apply = (type, data) => transcript.apply({ type, data });
  apply("message.created", { message: user(1, "<img src=x onerror=alert(1)>") });
  steps.push(await snapshot());
  apply("turn.started", { reply_to: 1, attempt: 1 });
  apply("assistant.delta", { reply_to: 1, text: "Hel" });
  apply("assistant.delta", { reply_to: 1, text: "lo" });
  steps.push(await snapshot());
  apply("turn.started", { reply_to: 1, attempt: 2 });
  apply("assistant.delta", { reply_to: 1, text: "Hi" });
  steps.push(await snapshot());
  apply("message.created", { message: user(1, "<img src=x onerror=alert(1)>") });
  apply("assistant.message", { message: { ...user(2, "Hi!"), role: "assistant", reply_to: 1 } });
  apply("assistant.delta", { reply_to: 1, text: " late" });
  apply("turn.started", { reply_to: 1, attempt: 3 });
  steps.push(await snapshot());
  apply("message.created", { message: user(3, "Again") });
  apply("turn.started", { reply_to: 3, attempt: 1 });
  apply("turn.failed", { reply_to: 3, reason: "slm_timeout", message: "Too slow." });
  steps.push(await snapshot());
  apply("turn.started", { reply_to: 3, attempt: 1 });
  steps.push(await snapshot());
  return { steps, images: list.querySelectorAll("img").length, busy: list.getAttribute("aria-busy") };
}
"""


def test_the_transcript_drops_retried_text_duplicates_and_late_deltas(stack, page) -> None:
    page.goto(stack.url)
    result = page.evaluate(TRANSCRIPT_SCRIPT)

    question = "You: <img src=x onerror=alert(1)> Copy"  # a stored message has its Copy button
    waiting = "Waiting for an answer"
    assert result["steps"] == [
        [question, waiting],
        [question, "Soma: Hello"],
        [question, "Soma: Hi"],  # the retry dropped "Hello"
        [question, "Soma: Hi! Copy"],  # the stored answer replaced the stream; nothing after it counts
        [question, "Soma: Hi! Copy", "You: Again Copy", "No answer: the turn failed slm_timeout Too slow."],
        [question, "Soma: Hi! Copy", "You: Again Copy", "Soma:"],  # a turn run again after failing streams anew
    ]
    assert result["images"] == 0  # text is text, never HTML
    assert result["busy"] == "true"  # the last turn is streaming
