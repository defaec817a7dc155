"""Files in a chat, in a real headless Chromium against a real gateway process: attached to a
message by the paperclip, by dropping them on the chat and by pasting, each waiting as a chip; sent
as multipart/form-data; a refusal (413) that keeps the draft and its files; the question showing
what it carried; and the chat's Files panel listing, downloading and deleting them, with the keyboard.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.acceptance.browser import browser, console, expect, page, sync_api  # noqa: F401
from tests.acceptance.chat_steps import open_chat

SCREENSHOTS = Path("/tmp")
PHONE = {"width": 390, "height": 844}
CSV = b"month,sales\njan,3\nfeb,5\n"
NOTES = b"Sales rose in February.\n"
PICTURE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100  # a name and a signature are all a chip needs


def listing(stack, chat_id: str) -> list[dict]:
    response = stack.client.get(f"{stack.url}/v1/sessions/{chat_id}/files")
    assert response.status_code == 200, response.text
    return response.json()["files"]


def chips(page: sync_api.Page) -> sync_api.Locator:
    return page.get_by_test_id("attachment")


def file_row(page: sync_api.Page, path: str) -> sync_api.Locator:
    return page.locator(f'[data-testid="file"][data-path="{path}"]')


def drop_on_chat(page: sync_api.Page, name: str, data: bytes, mime_type: str) -> None:
    """Drag a file from the desktop onto the chat, as the browser does."""
    transfer = page.evaluate_handle(
        "([name, data, type]) => { const t = new DataTransfer(); t.items.add(new File([new Uint8Array(data)], name, { type })); return t; }",
        [name, list(data), mime_type],
    )
    chat = page.get_by_test_id("chat")
    page.get_by_test_id("message-list").dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(chat).to_have_class(re.compile(r"\bdragging\b"))
    page.get_by_test_id("message-list").dispatch_event("drop", {"dataTransfer": transfer})
    expect(chat).not_to_have_class(re.compile(r"\bdragging\b"))


def paste_into_composer(page: sync_api.Page, name: str, data: bytes, mime_type: str) -> None:
    """Paste a file (a screenshot, a file copied in a file manager) into the message box."""
    page.get_by_test_id("composer-input").evaluate(
        """(input, [name, data, type]) => {
          const t = new DataTransfer();
          t.items.add(new File([new Uint8Array(data)], name, { type }));
          input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: t, bubbles: true, cancelable: true }));
        }""",
        [name, list(data), mime_type],
    )


def test_files_attached_by_paperclip_drop_and_paste_go_with_the_message_and_the_files_panel_lists_downloads_and_deletes_them(stack, page) -> None:
    chat_id = stack.new_session()
    open_chat(page, stack.url, chat_id)
    attach = page.get_by_test_id("attach")
    expect(attach).to_have_accessible_name("Attach files")

    attach.focus()
    assert attach.evaluate("(el) => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle") == "solid"  # where the keyboard is shows
    with page.expect_file_chooser() as chooser:
        attach.press("Enter")  # the keyboard opens the picker as a click does (focused again: a refresh may have moved the focus)
    assert chooser.value.is_multiple()
    chooser.value.set_files([
        {"name": "sales.csv", "mimeType": "text/csv", "buffer": CSV},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": NOTES},
    ])  # fmt: skip
    expect(chips(page).get_by_test_id("attachment-name")).to_have_text(["sales.csv", "notes.txt"])
    expect(chips(page).get_by_test_id("attachment-size")).to_have_text([f"{len(CSV)} bytes", f"{len(NOTES)} bytes"])
    expect(page.get_by_test_id("send")).to_be_enabled()  # files alone may be sent

    remove = chips(page).nth(1).get_by_test_id("attachment-remove")
    expect(remove).to_have_accessible_name("Remove notes.txt")
    remove.focus()
    page.keyboard.press("Enter")
    expect(chips(page).get_by_test_id("attachment-name")).to_have_text(["sales.csv"])
    expect(chips(page).get_by_test_id("attachment-remove")).to_be_focused()  # the focus stays among the chips

    drop_on_chat(page, "chart.png", PICTURE, "image/png")
    paste_into_composer(page, "notes.txt", NOTES, "text/plain")
    expect(chips(page).get_by_test_id("attachment-name")).to_have_text(["sales.csv", "chart.png", "notes.txt"])

    page.get_by_test_id("composer-input").fill("Chart these")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"/v1/sessions/{chat_id}/messages")) as response:
        page.get_by_test_id("composer-input").press("Enter")
    assert response.value.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert response.value.status == 202
    stored = response.value.json()
    assert stored["content"] == "Chart these"
    assert [(f["path"], f["size"]) for f in stored["meta"]["attachments"]] == [("sales.csv", len(CSV)), ("chart.png", len(PICTURE)), ("notes.txt", len(NOTES))]
    expect(chips(page)).to_have_count(0)
    expect(page.get_by_test_id("composer-input")).to_have_value("")

    question = page.locator('[data-testid="message"][data-role="user"]')
    expect(question.get_by_test_id("message-content")).to_have_text("Chart these")
    links = question.get_by_test_id("message-file-link")
    expect(links.locator(".file-name")).to_have_text(["sales.csv", "chart.png", "notes.txt"])
    expect(links.first).to_have_attribute("href", f"/v1/sessions/{chat_id}/files/sales.csv")
    assert sorted((f["path"], f["size"]) for f in listing(stack, chat_id)) == [("chart.png", len(PICTURE)), ("notes.txt", len(NOTES)), ("sales.csv", len(CSV))]

    # The Files panel, with the keyboard: it opens on its title, downloads, deletes after asking, and Esc closes it.
    files_button = page.get_by_test_id("files-open")
    expect(files_button).to_have_attribute("aria-expanded", "false")
    files_button.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_test_id("files-panel")
    expect(panel).to_be_visible()
    expect(files_button).to_have_attribute("aria-expanded", "true")
    expect(panel.locator("#files-title")).to_be_focused()
    expect(panel.get_by_test_id("file").get_by_test_id("file-download")).to_have_text(["chart.png", "notes.txt", "sales.csv"])
    expect(file_row(page, "sales.csv").get_by_test_id("file-size")).to_have_text(f"{len(CSV)} bytes")
    expect(panel.get_by_test_id("files-summary")).to_have_text(f"3 files, {len(CSV) + len(NOTES) + len(PICTURE)} bytes")
    page.screenshot(path=str(SCREENSHOTS / "soma-files-panel.png"))

    with page.expect_download() as download:
        file_row(page, "sales.csv").get_by_test_id("file-download").click()
    assert download.value.suggested_filename == "sales.csv"
    assert Path(download.value.path()).read_bytes() == CSV

    delete = file_row(page, "chart.png").get_by_test_id("file-delete")
    expect(delete).to_have_accessible_name("Delete chart.png")
    delete.click()
    expect(file_row(page, "chart.png").get_by_test_id("file-delete-cancel")).to_be_focused()  # asks first; Cancel is the safe default
    page.keyboard.press("Escape")  # changes its mind: nothing is deleted
    expect(file_row(page, "chart.png").get_by_test_id("file-delete")).to_be_visible()
    file_row(page, "chart.png").get_by_test_id("file-delete").click()
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        file_row(page, "chart.png").get_by_test_id("file-delete-confirm").click()
    assert deleted.value.status == 204
    assert deleted.value.url == f"{stack.url}/v1/sessions/{chat_id}/files/chart.png"
    expect(file_row(page, "chart.png")).to_have_count(0)
    expect(panel.get_by_test_id("file").get_by_test_id("file-download")).to_have_text(["notes.txt", "sales.csv"])
    assert [f["path"] for f in listing(stack, chat_id)] == ["notes.txt", "sales.csv"]

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(files_button).to_be_focused()
    expect(page.get_by_test_id("stop")).to_be_visible()  # Esc closed the panel; it did not stop the answer waiting in the queue

    page.reload()  # the question still shows what it carried, and that one of them has gone since
    expect(question.get_by_test_id("message-file-link").locator(".file-name")).to_have_text(["sales.csv", "chart.png", "notes.txt"])
    expect(question.get_by_test_id("file-note")).to_have_text(["no longer in this chat"])
    expect(question.locator('a[data-testid="message-file-link"]')).to_have_count(2)


def test_a_refused_upload_shows_the_servers_words_and_keeps_the_draft_and_its_files_on_a_phone(stack, page, console) -> None:
    console.allow_http_errors(413)
    response = stack.client.put(f"{stack.url}/v1/settings", json={"workspace_max_mb": 1})
    assert response.status_code == 200, response.text
    page.set_viewport_size(PHONE)
    chat_id = stack.new_session()
    open_chat(page, stack.url, chat_id)
    big = b"x" * (1024 * 1024 + 1)  # one byte over the chat's files' limit
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("attach").click()
    chooser.value.set_files([{"name": "a rather long name for a big export of every sale.csv", "mimeType": "text/csv", "buffer": big}])
    expect(chips(page).get_by_test_id("attachment-size")).to_have_text(["1 MiB"])
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # a long name is cut, not wider than the phone
    page.get_by_test_id("composer-input").fill("Is this too big?")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/messages")) as refused:
        page.get_by_test_id("send").click()
    assert refused.value.status == 413
    error = refused.value.json()["error"]
    expect(page.get_by_test_id("chat-error-message")).to_have_text(error["message"])
    expect(page.get_by_test_id("chat-error-code")).to_have_text(error["code"])
    expect(page.get_by_test_id("composer-input")).to_have_value("Is this too big?")  # nothing lost: fix it and send again
    expect(chips(page).get_by_test_id("attachment-name")).to_have_text(["a rather long name for a big export of every sale.csv"])
    expect(page.get_by_test_id("send")).to_be_enabled()
    expect(page.get_by_test_id("send-progress")).to_be_hidden()
    expect(page.locator('[data-testid="message"][data-role="user"]')).to_have_count(0)
    assert listing(stack, chat_id) == []
    page.screenshot(path=str(SCREENSHOTS / "soma-attach-refused-phone.png"))

    chips(page).get_by_test_id("attachment-remove").click()
    expect(chips(page)).to_have_count(0)
    expect(page.get_by_test_id("attach")).to_be_focused()  # the last chip went: the focus goes back to the paperclip
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("attach").click()
    chooser.value.set_files([{"name": "sales.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.get_by_test_id("send").click()
    question = page.locator('[data-testid="message"][data-role="user"]')
    expect(question.get_by_test_id("message-file-link").locator(".file-name")).to_have_text(["sales.csv"])
    expect(chips(page)).to_have_count(0)
    expect(page.get_by_test_id("chat-error")).to_be_hidden()

    page.get_by_test_id("files-open").click()
    panel = page.get_by_test_id("files-panel")
    expect(panel.get_by_test_id("file-download")).to_have_text(["sales.csv"])
    assert panel.evaluate("(el) => el.getBoundingClientRect().width") == PHONE["width"]  # the whole phone's width
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SCREENSHOTS / "soma-files-panel-phone.png"))
    panel.get_by_test_id("files-close").click()
    expect(page.get_by_test_id("files-open")).to_be_focused()
