"""The Knowledge page in a real headless Chromium, against real gateway and worker processes."""

from __future__ import annotations

from pathlib import Path

from tests.acceptance.browser import RECORD_PROGRESS, browser, console, expect, open_page, page, sync_api  # noqa: F401

SCREENSHOT = Path("/tmp/soma-knowledge.png")
INDEXED_MS = 180_000  # a fresh worker loads the embedding model before its first document
HANDBOOK = "".join(
    f"## Section {n}\n\nOn ward {n % 7}, the night shift hands over at 07:{n % 60:02d}. "
    f"Check the drug trolley, sign the controlled-drugs book and note any fall risk for bed {n % 24}.\n\n"
    for n in range(1, 200)
).encode()  # about 100 KB: at 128 KiB/s, long enough to watch its upload progress



def row(page: sync_api.Page, filename: str) -> sync_api.Locator:
    return page.get_by_test_id("knowledge-row").filter(has=page.get_by_test_id("knowledge-download").get_by_text(filename, exact=True))


def upload(page: sync_api.Page, name: str, data: bytes, mime_type: str) -> None:
    page.get_by_test_id("knowledge-file-input").set_input_files({"name": name, "mimeType": mime_type, "buffer": data})


def drop(page: sync_api.Page, name: str, data: str, mime_type: str) -> None:
    """Drag a file onto the drop zone, as the browser does for a file dragged from the desktop."""
    transfer = page.evaluate_handle(
        "([name, data, type]) => { const t = new DataTransfer(); t.items.add(new File([data], name, { type })); return t; }",
        [name, data, mime_type],
    )
    zone = page.get_by_test_id("knowledge-dropzone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(zone).to_have_class("dropzone dragging")
    zone.dispatch_event("drop", {"dataTransfer": transfer})


def documents(stack) -> list[dict]:
    response = stack.client.get(stack.url + "/v1/knowledge")
    assert response.status_code == 200, response.text
    return response.json()["documents"]


def test_a_file_uploads_with_progress_is_indexed_downloaded_and_deleted(stack, page) -> None:
    stack.worker()
    page.clock.install()  # the page's timers run on a clock the test can move; it flows as usual until then
    open_page(page, stack.url, "knowledge")
    expect(page.get_by_test_id("knowledge-empty")).to_contain_text("No files yet")
    expect(page.get_by_test_id("knowledge-limit")).to_have_text("Up to 20 MiB each.")

    page.evaluate(RECORD_PROGRESS)
    cdp = page.context.new_cdp_session(page)  # a slow uplink, so the upload takes a while
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 24 * 1024})
    upload(page, "ward-handbook.md", HANDBOOK, "text/markdown")
    progress = page.get_by_test_id("knowledge-upload")
    expect(progress.get_by_test_id("knowledge-upload-name")).to_have_text("ward-handbook.md")
    expect(progress).to_have_attribute("data-state", "uploading")
    expect(progress).to_have_attribute("data-state", "done")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    seen = page.evaluate("window.progressSeen")
    assert seen == sorted(seen) and seen[-1] == 100, seen
    assert any(0 < percent < 100 for percent in seen), seen  # the bar moved with the upload, not just at its end
    expect(progress).to_have_count(0)  # done: the table has it now

    handbook = row(page, "ward-handbook.md")
    expect(handbook.get_by_test_id("knowledge-state")).to_have_attribute("data-state", "ready", timeout=INDEXED_MS)
    [document] = documents(stack)
    assert document["state"] == "ready" and document["chunk_count"] > 0
    expect(handbook.get_by_test_id("knowledge-chunks")).to_have_text(str(document["chunk_count"]))
    expect(handbook).to_contain_text("text/markdown")
    page.screenshot(path=str(SCREENSHOT))

    with page.expect_download() as download:
        handbook.get_by_test_id("knowledge-download").click()
    assert download.value.suggested_filename == "ward-handbook.md"
    assert Path(download.value.path()).read_bytes() == HANDBOOK

    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/v1/knowledge") else None)
    page.clock.run_for(2500)  # at once, every timer due in 2.5 s fires: longer than the 2 s poll while indexing
    with page.expect_request(lambda r: r.url.endswith("/health")):  # sent after any request those timers made
        page.evaluate("fetch('/health')")
    assert polls == []  # nothing is being indexed: no polling

    handbook.get_by_test_id("knowledge-delete").click()
    handbook.get_by_test_id("knowledge-delete-confirm").click()
    expect(handbook).to_have_count(0)
    expect(page.get_by_test_id("knowledge-empty")).to_be_visible()
    assert documents(stack) == []


def test_refused_and_unreadable_files_show_the_servers_reasons(stack, page, console) -> None:
    console.allow_http_errors(413, 415)
    stack.worker()
    response = stack.client.put(stack.url + "/v1/settings", json={"upload_max_bytes": 1000})
    assert response.status_code == 200, response.text
    open_page(page, stack.url, "knowledge")
    expect(page.get_by_test_id("knowledge-limit")).to_have_text("Up to 1000 bytes each.")
    uploads = page.get_by_test_id("knowledge-upload")

    drop(page, "photo.png", "not really a picture", "image/png")
    expect(uploads.nth(0)).to_have_attribute("data-state", "failed")
    expect(uploads.nth(0).get_by_test_id("knowledge-upload-message")).to_have_text(
        "'photo.png' (image/png) is not a type Soma reads. Soma reads text (.txt), Markdown (.md), HTML (.html), "
        "PDF (.pdf), CSV (.csv) and JSON (.json) files. Convert the file to one of these types and upload it again."
    )

    upload(page, "minutes.txt", b"x" * 5000, "text/plain")
    expect(uploads.nth(1)).to_have_attribute("data-state", "failed")
    expect(uploads.nth(1).get_by_test_id("knowledge-upload-message")).to_have_text(
        "The file is over the 1000-byte limit set by upload_max_bytes. "
        "Upload a smaller file, or raise the `upload_max_bytes` setting with PUT /v1/settings."
    )
    page.screenshot(path="/tmp/soma-knowledge-refused.png")
    uploads.nth(0).get_by_test_id("knowledge-upload-dismiss").click()
    expect(uploads).to_have_count(1)

    upload(page, "blank.txt", b"  \n\n  ", "text/plain")
    blank = row(page, "blank.txt")
    expect(blank.get_by_test_id("knowledge-state")).to_have_attribute("data-state", "failed", timeout=INDEXED_MS)
    expect(blank.get_by_test_id("knowledge-doc-error")).to_have_text(
        "The file has no text. Delete this document, fix or convert the file, and upload it again."
    )

    upload(page, "blank-again.txt", b"  \n\n  ", "text/plain")  # the same content
    expect(uploads.nth(1)).to_have_attribute("data-state", "duplicate")
    expect(uploads.nth(1).get_by_test_id("knowledge-upload-message")).to_have_text(
        "This file's content is already stored, as “blank.txt”."
    )
    expect(page.get_by_test_id("knowledge-row")).to_have_count(1)
    assert [(d["filename"], d["state"]) for d in documents(stack)] == [("blank.txt", "failed")]
