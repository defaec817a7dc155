"""The chat features people expect, in a real headless Chromium against real gateway and worker processes:
rendered Markdown that stays safe, copy buttons, stop, regenerate, edit, versions, and managing chats."""

from __future__ import annotations

import re

from tests.acceptance.browser import browser, console, expect, page, requires_chromium, sync_api  # noqa: F401

pytestmark = requires_chromium

HOSTILE_ANSWER = [
    "# Plan\n\nSome **bold** and `inline` text.\n\n",
    "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n",
    "```python\nprint('hi')\n```\n\n",
    '<img src=x onerror="window.pwned = 1"> <script>window.pwned = 2</script>\n',
    "[click](javascript:window.pwned=3) [site](https://example.com) ![pic](javascript:window.pwned=4)",
]


def content(page: sync_api.Page, role: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="message"][data-role="{role}"] [data-testid="message-content"]')


def new_chat(page: sync_api.Page, url: str) -> str:
    """Open the UI, click New chat; returns the chat's id from the URL."""
    page.goto(url)
    page.get_by_test_id("new-chat").click()
    expect(page).to_have_url(re.compile(r"#/chats/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("connection-status")).to_have_text("Live")
    return page.url.rsplit("/", 1)[1]


def send(page: sync_api.Page, text: str) -> None:
    page.get_by_test_id("composer-input").fill(text)
    page.get_by_test_id("composer-input").press("Enter")


def clipboard(page: sync_api.Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_markdown_renders_as_elements_hostile_html_stays_text_and_copy_buttons_copy(stack, page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    stack.slm.script({"chunks": HOSTILE_ANSWER})
    stack.worker()
    chat_id = new_chat(page, stack.url)
    send(page, "Please **plan** <img src=x onerror=\"window.pwned = 5\">")

    answer = content(page, "assistant")
    expect(page.locator('[data-testid="message"][data-role="assistant"]')).to_have_attribute("data-state", "done")
    expect(answer.locator("h1")).to_have_text("Plan")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator(":not(pre) > code")).to_have_text("inline")
    expect(answer.locator("li")).to_have_text(["one", "two"])
    expect(answer.locator("table th")).to_have_text(["a", "b"])
    expect(answer.locator("table td")).to_have_text(["1", "2"])
    expect(answer.locator("pre")).to_have_text("print('hi')")
    expect(answer.locator("pre .tok-builtin")).to_have_text("print")
    # Hostile HTML is shown as the text it is; only the https link is a link, opened safely.
    expect(answer).to_contain_text('<img src=x onerror="window.pwned = 1"> <script>window.pwned = 2</script>')
    expect(answer).to_contain_text("[click](javascript:window.pwned=3)")
    expect(answer).to_contain_text("![pic](javascript:window.pwned=4)")
    link = answer.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    user = content(page, "user")
    expect(user.locator("strong")).to_have_text("plan")
    expect(user).to_contain_text('<img src=x onerror="window.pwned = 5">')
    messages = page.get_by_test_id("message-list")
    assert messages.locator("img, script").count() == 0
    assert page.evaluate("window.pwned") is None

    answer.get_by_test_id("copy-code").click()
    expect(answer.get_by_test_id("copy-code")).to_have_attribute("data-copied", "true")
    assert clipboard(page) == "print('hi')"
    stored = [m["content"] for m in stack.messages(chat_id) if m["role"] == "assistant"]
    page.locator('[data-testid="message"][data-role="assistant"]').get_by_test_id("copy-message").click()
    assert clipboard(page) == stored[0]
    page.locator('[data-testid="message"][data-role="user"]').get_by_test_id("copy-message").click()
    assert clipboard(page) == 'Please **plan** <img src=x onerror="window.pwned = 5">'
