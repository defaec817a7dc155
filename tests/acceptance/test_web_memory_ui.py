"""The Memory page in a real headless Chromium, against a real gateway process (and its real embedder)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.acceptance.browser import browser, console, expect, open_page, page, sync_api  # noqa: F401

SCREENSHOT = Path("/tmp/soma-memory.png")
# Far apart in meaning, so none merges into another (store.MERGE_SIMILARITY).
FACTS = [
    "The user's sister Ana lives in Lisbon.",
    "The user prefers answers in metric units.",
    "The user works night shifts as a nurse.",
    "The user is allergic to penicillin.",
    "The user's laptop runs Debian.",
    "The user plays the cello in an amateur orchestra.",
    "The user's favourite novel is Middlemarch.",
    "The user is training for a half marathon in October.",
    "The user drinks their coffee black.",
    "The user's flat is on the fourth floor without a lift.",
    "The user is learning Portuguese.",
    "The user's daughter starts school in September.",
    "The user keeps a vegetable garden with tomatoes and beans.",
    "The user's car is a blue 2015 Skoda estate.",
    "The user dislikes long meetings before noon.",
    "The user writes Python and some Rust at work.",
    "The user's birthday is on the 2nd of March.",
    "The user supports Benfica.",
    "The user is saving for a trip to Japan.",
    "The user's dentist appointment is every six months.",
    "The user reads the news in the evening, never in the morning.",
]
PAGE_SIZE = 20  # memory.js shows this many, then "Load more"
EMBEDDER_LOAD_S = 120
RELEVANCE = re.compile(r"^(Very close|Close|Related)$")
RECALL_THRESHOLD = 0.35  # the settings' memory_threshold, by default: the page hides matches below it


def items(page: sync_api.Page) -> sync_api.Locator:
    return page.get_by_test_id("memory-item")


def contents(page: sync_api.Page) -> sync_api.Locator:
    return page.get_by_test_id("memory-content")


def item(page: sync_api.Page, text: str) -> sync_api.Locator:
    """The list item showing this text, followed by its id (so it is still found while edited)."""
    shown = items(page).filter(has=page.get_by_test_id("memory-content").get_by_text(text, exact=True))
    memory_id = shown.get_attribute("data-memory-id")
    return page.locator(f'[data-testid="memory-item"][data-memory-id="{memory_id}"]')


def api_memories(stack) -> list[dict]:
    response = stack.client.get(stack.url + "/v1/memories", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["memories"]


def test_memories_are_added_searched_edited_and_deleted_in_the_page(stack, page) -> None:
    for fact in FACTS:
        # The first one loads the gateway's embedding model, which takes a while on a busy machine.
        response = stack.client.post(stack.url + "/v1/memories", json={"content": fact}, timeout=EMBEDDER_LOAD_S)
        assert response.status_code == 201, response.text
    open_page(page, stack.url, "memory")

    newest_first = list(reversed(FACTS))
    expect(contents(page)).to_have_text(newest_first[:PAGE_SIZE])
    page.get_by_test_id("memory-load-more").click()
    expect(contents(page)).to_have_text(newest_first)
    expect(page.get_by_test_id("memory-load-more")).to_be_hidden()

    new = page.get_by_test_id("memory-new-input")
    new.fill("My favourite colour is teal.")
    page.get_by_test_id("memory-add").click()
    expect(contents(page).first).to_have_text("My favourite colour is teal.")
    expect(page.get_by_test_id("memory-add-status")).to_have_text("Added.")
    expect(new).to_have_value("")
    expect(items(page).first.get_by_test_id("memory-source")).to_have_text("Added by you")

    new.fill("My favorite color is teal.")  # a restatement: merged, not stored twice
    new.press("Control+Enter")
    expect(page.get_by_test_id("memory-add-status")).to_have_text("Merged into a memory that said the same; it now has your wording.")
    expect(contents(page).first).to_have_text("My favorite color is teal.")
    expect(items(page)).to_have_count(len(FACTS) + 1)

    new.fill("The user's cat is called Miso.")
    page.get_by_test_id("memory-add").click()
    expect(contents(page).first).to_have_text("The user's cat is called Miso.")

    with page.expect_request(lambda r: "query=" in r.url) as searched:
        page.get_by_test_id("memory-search").press_sequentially("what pet does the user have", delay=20)
    assert searched.value.url.endswith("query=what+pet+does+the+user+have")  # debounced: one search, for the whole text
    expect(page.get_by_test_id("memory-summary")).to_contain_text("for “what pet does the user have”, best first")
    expect(contents(page).first).to_have_text("The user's cat is called Miso.")
    expect(items(page).first.get_by_test_id("memory-relevance")).to_have_text(RELEVANCE)  # in words, never a raw score
    found = stack.client.get(stack.url + "/v1/memories", params={"query": "what pet does the user have"}).json()["memories"]
    close = [m["content"] for m in found if m["similarity"] >= RECALL_THRESHOLD]
    assert 0 < len(close) < len(found)  # some unrelated memories are left out
    expect(contents(page)).to_have_text(close)
    hidden = len(found) - len(close)
    expect(page.get_by_test_id("memory-summary")).to_contain_text(f"({hidden} less related {'memory' if hidden == 1 else 'memories'} not shown)")
    expect(page.get_by_test_id("memory-load-more")).to_be_hidden()

    cat = item(page, "The user's cat is called Miso.")
    cat.get_by_test_id("memory-edit").click()
    editor = cat.get_by_test_id("memory-edit-input")
    expect(editor).to_be_focused()
    editor.fill("The user's cat is called Miso; she is nine.")
    editor.press("Escape")  # cancelled: nothing changes
    expect(cat.get_by_test_id("memory-content")).to_have_text("The user's cat is called Miso.")
    cat.get_by_test_id("memory-edit").click()
    cat.get_by_test_id("memory-edit-input").fill("The user's cat is called Miso; she is nine.")
    cat.get_by_test_id("memory-save").click()
    expect(cat.get_by_test_id("memory-content")).to_have_text("The user's cat is called Miso; she is nine.")
    expect(cat).to_have_attribute("data-state", "view")
    stored = stack.client.get(f"{stack.url}/v1/memories/{cat.get_attribute('data-memory-id')}").json()
    assert stored["content"] == "The user's cat is called Miso; she is nine."
    page.screenshot(path=str(SCREENSHOT))

    page.get_by_test_id("memory-search").fill("")
    expect(page.get_by_test_id("memory-summary")).to_have_text(f"{PAGE_SIZE} shown, newest first")
    cat.get_by_test_id("memory-delete").click()
    cat.get_by_test_id("memory-delete-cancel").click()  # asked first; kept
    expect(cat.get_by_test_id("memory-delete")).to_be_visible()
    cat.get_by_test_id("memory-delete").click()
    cat.get_by_test_id("memory-delete-confirm").click()
    expect(cat).to_have_count(0)
    expect(contents(page).first).to_have_text("My favorite color is teal.")

    stored = {m["content"]: m["source"] for m in api_memories(stack)}
    assert stored == {**{fact: "user" for fact in FACTS}, "My favorite color is teal.": "user"}

    page.reload()
    expect(contents(page)).to_have_text((["My favorite color is teal."] + newest_first)[:PAGE_SIZE])


def test_a_refused_memory_shows_the_servers_message(stack, page, console) -> None:
    console.allow_http_errors(413)
    open_page(page, stack.url, "memory")
    expect(page.get_by_test_id("memory-empty")).to_contain_text("No memories yet")

    page.get_by_test_id("memory-new-input").fill("x" * 4001)
    page.get_by_test_id("memory-add").click()

    error = page.get_by_test_id("memory-error")
    expect(error.get_by_test_id("memory-error-message")).to_have_text(
        "The memory has 4001 characters. A memory holds at most 4000 characters. "
        "Store a shorter fact, or split it into several memories."
    )
    expect(error.get_by_test_id("memory-error-code")).to_have_text("memory_too_large")
    expect(page.get_by_test_id("memory-new-input")).to_have_value("x" * 4001)  # kept, to be shortened
    assert api_memories(stack) == []

