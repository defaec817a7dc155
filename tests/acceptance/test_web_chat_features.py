"""The chat features people expect, in a real headless Chromium against real gateway and worker processes:
rendered Markdown that stays safe, copy buttons, stop, regenerate, edit, versions, and managing chats."""

from __future__ import annotations

import re

from tests import procs
from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401


HOSTILE_ANSWER = [
    "# Plan\n\nSome **bold** and `inline` text.\n\n",
    "- one\n- two\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n",
    "```python\nprint('hi')\n```\n\n",
    '<img src=x onerror="window.pwned = 1"> <script>window.pwned = 2</script>\n',
    "[click](javascript:window.pwned=3) [site](https://example.com) ![pic](javascript:window.pwned=4)",
]

# A knowledge file, the passage it is indexed as, and a memory: the sources of the chat's second answer.
GUIDE = b"# Garden guide\n\nTomatoes need six hours of direct sun and deep watering twice a week.\n"
PASSAGE = "# Garden guide\n\nTomatoes need six hours of direct sun and deep watering twice a week."
HABIT = "I water my tomatoes in the morning."


# Links a renderer must not make: each stays text. Rendered in the page by markdown.js directly.
HOSTILE_LINKS = "\n\n".join([
    "[a](JaVaScRiPt:alert(1))",
    "[b]( javascript:alert(1))",
    "[c](java\tscript:alert(1))",
    "[d](data:text/html;base64,PHNjcmlwdD4=)",
    "[e](vbscript:msgbox(1))",
    "[f](//evil.example/x)",
    "[g](/relative/path)",
    "<javascript:alert(1)>",
    "![h](https://example.com/h.png)",
    "<iframe src=https://example.com></iframe> <svg onload=alert(1)> &lt;b&gt;",
    "[ok](https://example.com/ok \"title\") <mailto:ada@example.com> https://example.com/bare.",
])
RENDER = """
async (source) => {
  const { renderMarkdown } = await import("/static/markdown.js");
  const box = document.createElement("div");
  box.append(renderMarkdown(source));
  return {
    links: [...box.querySelectorAll("a")].map((a) => [a.getAttribute("href"), a.textContent, a.rel, a.target]),
    elements: box.querySelectorAll("img, iframe, svg, script, b").length,
    text: box.textContent,
  };
}
"""


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


def test_markdown_renders_while_it_streams_hostile_html_stays_text_copy_buttons_copy_and_sources_show(stack, page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    stack.slm.script(
        {"chunks": HOSTILE_ANSWER, "hold_after": 4},  # held before the hostile links, mid-answer
        {"chunks": ["Water them **twice a week** [1]."]},
    )
    stack.worker()
    guide = stack.client.post(f"{stack.url}/v1/knowledge", files={"file": ("garden.md", GUIDE)}).json()  # indexed meanwhile
    chat_id = new_chat(page, stack.url)
    send(page, "Please **plan** <img src=x onerror=\"window.pwned = 5\">")

    answer = content(page, "assistant")
    # Rendered while it streams, half-written HTML included, and still only elements the renderer makes.
    expect(page.locator('[data-testid="message"][data-role="assistant"]')).to_have_attribute("data-state", "streaming")
    expect(answer.locator("h1")).to_have_text("Plan")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("table td")).to_have_text(["1", "2"])
    expect(answer).to_contain_text('<img src=x onerror="window.pwned = 1">')
    assert answer.locator("img, script").count() == 0
    stack.slm.release()
    expect(page.locator('[data-testid="message"][data-role="assistant"]')).to_have_attribute("data-state", "done")
    expect(answer.locator("h1")).to_have_text("Plan")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator(":not(pre) > code")).to_have_text("inline")
    expect(answer.locator("li")).to_have_text(["one", "two"])
    expect(answer.locator("table th")).to_have_text(["a", "b"])
    expect(answer.locator("table td")).to_have_text(["1", "2"])
    expect(answer.locator("table td").nth(1)).to_have_css("text-align", "right")  # by a class: the CSP refuses style attributes
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

    rendered = page.evaluate(RENDER, HOSTILE_LINKS)
    safe = ["noopener noreferrer", "_blank"]
    assert rendered["links"] == [
        ["https://example.com/h.png", "h", *safe],  # an image is a link to it, never an <img>
        ["https://example.com/ok", "ok", *safe],
        ["mailto:ada@example.com", "ada@example.com", *safe],
        ["https://example.com/bare", "https://example.com/bare", *safe],
    ]
    assert rendered["elements"] == 0
    assert "[a](JaVaScRiPt:alert(1))" in rendered["text"] and "<svg onload=alert(1)> &lt;b&gt;" in rendered["text"]

    _sources_show_under_an_answer(stack, page, chat_id, guide["id"])


def bubble(page: sync_api.Page, role: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="message"][data-role="{role}"]')


def test_an_answer_is_stopped_regenerated_and_edited_and_earlier_versions_stay_readable(stack, page) -> None:
    long_start = "Counting\n\n" + "".join(f"{n}. line\n" for n in range(1, 61))  # taller than the page
    stack.slm.script(
        {"chunks": [long_start] + [f" {n}" for n in range(40)], "delay": 0.25},
        {"chunks": ["**Second** answer"]},
        {"chunks": ["Third answer"]},
    )
    stack.worker()
    chat_id = new_chat(page, stack.url)
    send(page, "Count slowly")

    answer = bubble(page, "assistant")
    expect(answer).to_have_attribute("data-state", "streaming")
    expect(content(page, "assistant").locator("ol > li")).to_have_count(60)  # rendered as it streams
    stop = page.get_by_test_id("stop")
    expect(stop).to_be_visible()
    # Scrolled up while it streams: a button brings the latest text back.
    page.locator(".scroller").evaluate("el => el.scrollTo(0, 0)")
    to_bottom = page.get_by_test_id("scroll-to-bottom")
    expect(to_bottom).to_be_visible()

    page.keyboard.press("Escape")  # Esc stops, as the Stop button does
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.get_by_test_id("message-stopped")).to_have_text("Stopped")
    expect(stop).to_be_hidden()
    assert page.locator(".scroller").evaluate("el => el.scrollTop") == 0  # rendered where the reader was
    to_bottom.click()
    expect(to_bottom).to_be_hidden()
    stopped = stack.messages(chat_id)[1]
    assert stopped["stopped"] is True and stopped["content"].startswith("Counting")

    answer.get_by_test_id("regenerate").click()
    expect(content(page, "assistant").locator("strong")).to_have_text("Second")
    expect(content(page, "assistant")).to_have_text("Second answer")
    expect(answer.get_by_test_id("version-label")).to_have_text("2/2")
    answer.get_by_test_id("version-prev").click()
    expect(answer.get_by_test_id("version-label")).to_have_text("1/2")
    expect(content(page, "assistant").locator("ol > li")).to_have_count(60)  # the stopped answer, rendered
    answer.get_by_test_id("version-next").click()
    expect(content(page, "assistant")).to_have_text("Second answer")

    question = bubble(page, "user")
    question.get_by_test_id("edit-message").click()
    expect(question.get_by_test_id("edit-input")).to_have_value("Count slowly")
    question.get_by_test_id("edit-input").fill("Count *fast*")
    question.get_by_test_id("edit-save").click()
    expect(content(page, "user").locator("em")).to_have_text("fast")
    expect(question.get_by_test_id("version-label")).to_have_text("2/2")
    expect(content(page, "assistant")).to_have_text("Third answer")
    # Each counter counts its own message's versions in the branch shown: the edited question has
    # two; the answer to its second version has one (no counter), and its first had two.
    expect(answer.get_by_test_id("version-label")).to_have_count(0)
    question.get_by_test_id("version-prev").click()
    expect(question.get_by_test_id("version-label")).to_have_text("1/2")
    expect(content(page, "assistant")).to_have_text("Second answer")
    expect(answer.get_by_test_id("version-label")).to_have_text("2/2")
    question.get_by_test_id("version-next").click()
    expect(content(page, "assistant")).to_have_text("Third answer")

    page.reload()  # the versions come back from the event log
    expect(content(page, "user")).to_have_text("Count fast")
    expect(bubble(page, "user").get_by_test_id("version-label")).to_have_text("2/2")
    expect(bubble(page, "assistant").get_by_test_id("version-label")).to_have_count(0)
    user, assistant = stack.messages(chat_id)
    assert (user["content"], [v["content"] for v in user["versions"]]) == ("Count *fast*", ["Count slowly"])
    assert [v["content"] for v in assistant["versions"]][1:] == ["**Second** answer"]
    assert assistant["content"] == "Third answer"


def test_chats_are_grouped_searched_renamed_exported_and_deleted(stack, page) -> None:
    lisbon, bread = stack.new_session(), stack.new_session()
    stack.send(lisbon, "Trip to Lisbon in spring")
    stack.send(bread, "A recipe for sourdough bread")
    long_title = "Sourdough bread: starter, autolyse, stretch and fold, shaping, proofing and baking"
    assert stack.client.patch(f"{stack.url}/v1/sessions/{bread}", json={"title": long_title}).status_code == 200
    page.goto(stack.url)
    items = page.get_by_test_id("chat-item")
    expect(page.get_by_test_id("chat-group-label")).to_have_text(["Today"])
    expect(items).to_have_count(2)
    long_item = items.first  # the newest first
    expect(long_item).to_have_attribute("data-chat-id", bread)
    assert long_item.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"
    assert long_item.evaluate("el => el.scrollWidth > el.clientWidth")  # cut by CSS, whole in the tooltip
    expect(long_item).to_have_attribute("title", long_title)
    expect(long_item).to_have_text(long_title)

    page.keyboard.press("Control+k")
    search = page.get_by_test_id("chat-search")
    expect(search).to_be_focused()
    search.fill("lisb")
    expect(items).to_have_count(1)
    expect(items).to_have_text("Trip to Lisbon in spring")
    search.fill("nothing like this")
    expect(page.get_by_test_id("chat-list-empty")).to_have_text("No chats match your search.")
    search.press("Escape")
    expect(items).to_have_count(2)

    items.last.click()
    expect(page.get_by_test_id("chat-title")).to_have_text("Trip to Lisbon in spring")
    # No worker runs: the question waits in the queue, and Stop takes it out.
    page.get_by_test_id("stop").click()
    expect(page.get_by_test_id("turn-cancelled")).to_contain_text("Stopped before an answer was written.")
    expect(page.get_by_test_id("stop")).to_be_hidden()
    page.get_by_test_id("chat-menu-button").click()
    page.get_by_test_id("rename-chat").click()
    page.get_by_test_id("chat-title-input").fill("Lisbon plans")
    page.get_by_test_id("chat-title-input").press("Enter")
    expect(page.get_by_test_id("chat-title")).to_have_text("Lisbon plans")
    expect(page.locator(f'[data-testid="chat-item"][data-chat-id="{lisbon}"]')).to_have_text("Lisbon plans")
    assert stack.client.get(f"{stack.url}/v1/sessions/{lisbon}").json()["title"] == "Lisbon plans"

    for format_, name in (("markdown", "soma-lisbon-plans.md"), ("json", "soma-lisbon-plans.json")):
        page.get_by_test_id("chat-menu-button").click()
        with page.expect_download() as download:
            page.get_by_test_id(f"export-{format_}").click()
        assert download.value.suggested_filename == name
        text = open(download.value.path(), encoding="utf-8").read()
        assert "Trip to Lisbon in spring" in text and "Lisbon plans" in text

    page.get_by_test_id("chat-menu-button").click()
    page.get_by_test_id("delete-chat").click()
    expect(page.get_by_test_id("delete-chat-dialog")).to_contain_text("Lisbon plans")
    page.get_by_test_id("delete-chat-confirm").click()
    expect(page).to_have_url(re.compile(r"#/chats$"))
    expect(items).to_have_count(1)
    expect(items).to_have_attribute("data-chat-id", bread)
    assert stack.client.get(f"{stack.url}/v1/sessions/{lisbon}").status_code == 404

    page.screenshot(path="/tmp/soma-chat-features.png")
    page.locator("body").press("?")
    dialog = page.get_by_test_id("shortcuts-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Stop the answer")
    page.get_by_test_id("shortcuts-close").click()
    expect(dialog).to_be_hidden()



def _sources_show_under_an_answer(stack, page: sync_api.Page, chat_id: str, guide: str) -> None:
    """An answer citing a knowledge file shows it, and the memory it was given, each passage on demand; the API has them too."""
    assert stack.client.post(f"{stack.url}/v1/memories", json={"content": HABIT}, timeout=120).status_code == 201

    def ready() -> bool:
        return stack.client.get(f"{stack.url}/v1/knowledge/{guide}").json()["state"] == "ready"

    procs.wait_until(ready, 120, "garden.md to be indexed", interval=0.2)
    send(page, "How often should I water tomatoes?")

    answer = bubble(page, "assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.get_by_test_id("message-content")).to_have_text("Water them twice a week [1].")  # the marker is a link inside its brackets
    file = answer.locator('[data-testid="source"][data-source-title="garden.md"]')
    expect(file).to_be_visible()
    expect(file).to_have_attribute("data-cited", "true")
    memory = answer.locator(f'[data-testid="source"][data-source-title="{HABIT}"]')
    expect(memory).to_contain_text("memory")
    expect(file.get_by_test_id("source-excerpt")).to_be_hidden()  # the passage on demand
    marker = answer.get_by_test_id("source-link")
    expect(marker).to_have_text("[1]")
    expect(marker).to_have_accessible_name("Source 1: garden.md")
    marker.click()  # the [1] in the text opens its source
    expect(file.get_by_test_id("source-excerpt")).to_have_text(PASSAGE)
    expect(file.locator("summary")).to_be_focused()
    memory.locator("summary").click()
    expect(memory.get_by_test_id("source-excerpt")).to_have_text(HABIT)

    stored = [m for m in stack.messages(chat_id) if m["role"] == "assistant"][-1]
    memory_id = stack.client.get(f"{stack.url}/v1/memories").json()["memories"][0]["id"]
    assert stored["meta"]["sources"] == [
        {"kind": "knowledge", "id": guide, "title": "garden.md", "excerpt": PASSAGE, "marker": 1, "cited": True},
        {"kind": "memory", "id": memory_id, "title": HABIT, "excerpt": HABIT, "marker": None, "cited": None},
    ]
    page.reload()  # drawn again from the event log
    expect(bubble(page, "assistant").last.locator('[data-source-title="garden.md"]')).to_be_visible()
