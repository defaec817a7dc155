"""The Settings page's Backup card in a real headless Chromium: download a backup, then restore it (runbook 4)."""

from __future__ import annotations

import re
from pathlib import Path

from tests import agent_zero_backup as a0
from tests import procs
from tests.acceptance.browser import (  # noqa: F401
    RECORD_PROGRESS,
    browser,
    console,
    create_user,
    expect,
    log_in,
    new_page,
    open_page,
    page,
    sync_api,
)
from tests.procs import has_event

SCREENSHOT = Path("/tmp/soma-restore.png")
INDEXED_S = 180  # a fresh worker loads the embedding model before its first document
EMBEDDER_S = 120  # and the gateway before its first memory
FACT = "The user's allotment is plot 14, by the water tap."
NOTES = b"# Allotment\n\nSow broad beans in November; lift the onions in August when their tops fall over.\n"
BACKUP_NAME = re.compile(r"^soma-backup-\d{8}T\d{6}Z\.tar$")
RESTORED = "Restored 1 chat, 2 messages, 1 memory, 1 knowledge file and 1 chat file."
SOWING = b"month,crop\nNovember,broad beans\n"  # attached to the chat's question: a chat file




def get(stack, path: str, status: int = 200) -> dict:
    response = stack.client.get(stack.url + path)
    assert response.status_code == status, response.text
    return response.json()


def set_recall_k(stack, value: int) -> None:
    response = stack.client.put(stack.url + "/v1/settings", json={"memory_recall_k": value})
    assert response.status_code == 200, response.text


def recall_k(stack) -> int:
    return get(stack, "/v1/settings")["settings"]["memory_recall_k"]


def session_ids(stack) -> list[str]:
    return sorted(s["id"] for s in get(stack, "/v1/sessions")["sessions"])


def make_data(stack) -> dict[str, str]:
    """A chat answered by the scripted SLM with a file attached, a memory, an indexed knowledge file, and memory_recall_k = 9."""
    stack.worker()
    response = stack.client.post(stack.url + "/v1/knowledge", files={"file": ("allotment.md", NOTES, "text/markdown")})
    assert response.status_code == 202, response.text
    document_id = response.json()["id"]
    response = stack.client.post(stack.url + "/v1/memories", json={"content": FACT}, timeout=EMBEDDER_S)
    assert response.status_code == 201, response.text
    memory_id = response.json()["id"]
    chat_id = stack.new_session()
    sent = stack.client.post(
        f"{stack.url}/v1/sessions/{chat_id}/messages", data={"content": "What should I sow in November?"}, files={"files": ("sowing.csv", SOWING, "text/csv")}
    )
    assert sent.status_code == 202, sent.text
    stack.events(chat_id, has_event("assistant.message"), timeout=INDEXED_S)
    procs.wait_until(lambda: get(stack, f"/v1/knowledge/{document_id}")["state"] == "ready", INDEXED_S, "the knowledge file to be indexed", interval=0.5)
    set_recall_k(stack, 9)
    return {"chat": chat_id, "memory": memory_id, "document": document_id}


def download_backup(page: sync_api.Page, into: Path) -> Path:
    with page.expect_download() as download:
        page.get_by_test_id("backup-download").click()
    assert BACKUP_NAME.match(download.value.suggested_filename), download.value.suggested_filename
    path = into / download.value.suggested_filename
    download.value.save_as(path)
    return path


def stage(page: sync_api.Page, backup: Path) -> None:
    """Choose the file and upload it; returns once its preview shows."""
    page.get_by_test_id("restore-file").set_input_files(str(backup))
    page.get_by_test_id("restore-upload").click()
    expect(page.get_by_test_id("restore-preview")).to_be_visible()


def expect_preview(page: sync_api.Page, now: str, in_backup: str) -> None:
    preview = page.get_by_test_id("restore-preview")
    for key, count in {"sessions": "1", "messages": "2", "memories": "1", "documents": "1", "files": "1"}.items():
        expect(preview.get_by_test_id(f"restore-count-{key}").locator("dd")).to_have_text(count)
    expect(preview.get_by_test_id("restore-setting")).to_have_count(1)
    row = preview.locator('[data-testid="restore-setting"][data-key="memory_recall_k"]')
    expect(row.locator("th")).to_have_text("Memories per turn memory_recall_k")
    expect(row.get_by_test_id("restore-setting-current")).to_have_text(now)
    expect(row.get_by_test_id("restore-setting-backup")).to_have_text(in_backup)
    expect(preview.get_by_test_id("restore-owners")).to_have_count(0)  # the chat's owner (the admin key that made it) exists here
    expect(preview.get_by_test_id("restore-settings-diff")).to_contain_text("1 setting differs")
    expect(preview.get_by_test_id("restore-warning")).to_contain_text("Chats, their files, memories and knowledge files here will be replaced by the backup's.")
    expect(page.get_by_test_id("restore-apply")).to_be_disabled()  # until a mode is chosen


def expect_restored(stack, ids: dict[str, str]) -> None:
    """The backup's chat with its file, memory and knowledge file are back, and nothing made after it is left."""
    assert session_ids(stack) == [ids["chat"]]
    assert [m["role"] for m in get(stack, f"/v1/sessions/{ids['chat']}/messages")["messages"]] == ["user", "assistant"]
    assert get(stack, f"/v1/memories/{ids['memory']}")["content"] == FACT
    document = get(stack, f"/v1/knowledge/{ids['document']}")
    assert (document["filename"], document["state"]) == ("allotment.md", "ready")
    assert stack.client.get(f"{stack.url}/v1/knowledge/{ids['document']}/content").content == NOTES
    assert stack.client.get(f"{stack.url}/v1/sessions/{ids['chat']}/files/sowing.csv").content == SOWING


def test_a_downloaded_backup_is_restored_in_the_page_keeping_then_overwriting_the_settings(stack, page, tmp_path) -> None:
    ids = make_data(stack)
    open_page(page, stack.url, "settings")
    backup = download_backup(page, tmp_path)

    # What happens after the backup: all of it is undone by the restore, but for the setting when preserved.
    assert stack.client.delete(f"{stack.url}/v1/memories/{ids['memory']}").status_code == 204
    set_recall_k(stack, 3)
    extra_chat = stack.new_session()

    page.reload()
    expect(page.get_by_test_id("setting-memory_recall_k")).to_have_value("3")
    upload = page.get_by_test_id("restore-upload")
    expect(upload).to_be_disabled()  # nothing chosen yet
    page.get_by_test_id("restore-file").set_input_files(str(backup))
    page.evaluate(RECORD_PROGRESS)
    cdp = page.context.new_cdp_session(page)  # a slow uplink, so the upload takes about three seconds
    cdp.send("Network.enable")
    throttled = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": max(backup.stat().st_size // 3, 1024)}
    cdp.send("Network.emulateNetworkConditions", throttled)
    upload.click()
    expect(page.get_by_test_id("restore")).to_have_attribute("data-state", "uploading")
    expect(page.get_by_test_id("restore-progress")).to_be_visible()
    expect(page.get_by_test_id("restore-status")).to_have_text(f"Uploading {backup.name}…")
    expect(page.get_by_test_id("restore-preview")).to_be_visible()
    cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": -1})
    seen = page.evaluate("window.progressSeen")
    assert seen == sorted(seen) and seen[-1] == 100, seen
    assert any(0 < percent < 100 for percent in seen), seen  # the bar moved with the upload, not just at its end
    expect(page.get_by_test_id("restore-progress")).to_be_hidden()
    expect(page.get_by_test_id("restore-status")).to_have_text("The whole backup is checked. Nothing has changed yet.")
    expect_preview(page, now="3", in_backup="9")
    expect(page.get_by_test_id("restore-version")).to_have_text(re.compile(r"^\d+\.\d+"))
    page.set_viewport_size({"width": 1200, "height": 1600})  # the whole card, which the page scrolls
    page.get_by_test_id("settings-backup").screenshot(path=str(SCREENSHOT))

    # Cancel throws the staged restore away; nothing changes.
    with page.expect_response(lambda r: r.request.method == "DELETE" and "/v1/restores/" in r.url) as discarded:
        page.get_by_test_id("restore-cancel").click()
    assert discarded.value.status == 204
    assert get(stack, discarded.value.url.removeprefix(stack.url))["state"] == "discarded"
    expect(page.get_by_test_id("restore-preview")).to_be_hidden()
    expect(page.get_by_test_id("restore")).to_have_attribute("data-state", "idle")
    assert session_ids(stack) == sorted([ids["chat"], extra_chat])
    get(stack, f"/v1/memories/{ids['memory']}", status=404)

    # Restore, keeping the current settings.
    stage(page, backup)
    page.get_by_test_id("restore-mode-preserve").check()
    page.get_by_test_id("restore-apply").click()
    expect(page.get_by_test_id("restore-status")).to_have_text(RESTORED)
    expect(page.get_by_test_id("restore-preview")).to_be_hidden()
    expect(page.get_by_test_id("restore-reload")).to_be_visible()
    expect_restored(stack, ids)
    assert recall_k(stack) == 3

    # Again, now taking the backup's settings; a chat made meanwhile goes too.
    stack.new_session()
    stage(page, backup)
    expect_preview(page, now="3", in_backup="9")
    page.get_by_test_id("restore-mode-overwrite").check()
    page.get_by_test_id("restore-apply").click()
    expect(page.get_by_test_id("restore-status")).to_have_text(RESTORED)
    expect_restored(stack, ids)
    assert recall_k(stack) == 9
    expect(page.get_by_test_id("setting-memory_recall_k")).to_have_value("9")  # the form shows the restored settings

    page.get_by_test_id("restore-reload").click()
    open_page(page, stack.url, "knowledge")
    expect(page.get_by_test_id("knowledge-download")).to_have_text(["allotment.md"])


def test_a_file_that_is_not_a_backup_is_refused_in_the_servers_words_and_members_may_not_restore(stack, page, new_page, console, tmp_path) -> None:
    console.allow_http_errors(422)
    chat_id = stack.new_session()
    set_recall_k(stack, 7)
    before = get(stack, "/v1/settings")
    not_a_backup = tmp_path / "soma-backup.tar"
    not_a_backup.write_bytes(b"Milk, eggs, flour and a pot of basil.\n" * 40)

    open_page(page, stack.url, "settings")
    page.get_by_test_id("restore-file").set_input_files(str(not_a_backup))
    page.get_by_test_id("restore-upload").click()
    error = page.get_by_test_id("restore-error")
    expect(error.get_by_test_id("restore-error-code")).to_have_text("backup_not_soma")
    expect(error.get_by_test_id("restore-error-message")).to_have_text(
        "The file is not a tar archive: its checksum field is not a number. "
        "This file is not a Soma backup. Give a file made by `soma backup create` or GET /v1/backup."
    )
    expect(page.get_by_test_id("restore-preview")).to_be_hidden()
    expect(page.get_by_test_id("restore")).to_have_attribute("data-state", "idle")
    page.get_by_test_id("settings-backup").screenshot(path="/tmp/soma-restore-refused.png")
    assert session_ids(stack) == [chat_id]
    assert get(stack, "/v1/settings") == before

    # An Agent Zero backup is previewed with what stays behind (its secrets' key names, never their values), then restored.
    stage(page, a0.write(tmp_path / "agent-zero-backup.zip"))
    expect(page.get_by_test_id("restore-source")).to_contain_text("by Agent Zero M v1.7")
    expect(page.get_by_test_id("restore-count-sessions")).to_contain_text("2")
    left = page.get_by_test_id("restore-left-item")
    expect(left.filter(has_text=re.compile(r"^usr/\.env: never"))).to_have_text("usr/.env: never imported; it holds API_KEY_OPENAI, AUTH_LOGIN, AUTH_PASSWORD (values not shown)")
    expect(left.filter(has_text="photo.png")).to_have_count(1)
    assert "sk-secret" not in page.get_by_test_id("restore-preview").inner_text()
    page.get_by_test_id("restore-mode-preserve").check()
    page.get_by_test_id("restore-apply").click()
    expect(page.get_by_test_id("restore-status")).to_have_text("Restored 2 chats, 7 messages, 3 memories and 2 knowledge files.")
    assert sorted(s["title"] for s in get(stack, "/v1/sessions")["sessions"]) == ["Capitals", "Notes"]
    assert get(stack, "/v1/settings") == before

    create_user(stack, "mo", "a member's password 1", "member")
    member = new_page()
    log_in(member, stack.url, "mo", "a member's password 1")
    open_page(member, stack.url, "settings")
    card = member.get_by_test_id("settings-backup")
    expect(card.get_by_test_id("backup-read-only")).to_have_text("Only admins can download or restore backups.")
    expect(card.get_by_test_id("backup-download")).to_have_count(0)
    expect(card.get_by_test_id("restore-file")).to_have_count(0)

