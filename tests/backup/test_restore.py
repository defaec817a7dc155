"""Restore over HTTP, in-process: staged and verified before anything changes, applied all at once, refused whole."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest

from soma import errors
from soma.auth import admin, bootstrap
from soma.backup import apply
from soma.db import restore_lock
from tests.backup.conftest import Installed, entries_of, make_archive
from tests.backup.hostile import CASES, hostile

# What a restore must bring back exactly as it was, and what the tests change in between.
STATE = {
    "sessions": "SELECT id::text, title, last_event_id, owner FROM chat_sessions ORDER BY id",
    "messages": "SELECT id, session_id::text, role, content, reply_to, meta FROM messages ORDER BY id",
    "events": "SELECT session_id::text, id, type, data FROM session_events ORDER BY session_id, id",
    "memories": "SELECT id, content, embedding::text, embedding_model, source FROM memories ORDER BY id",
    "documents": "SELECT id::text, filename, sha256, state, chunk_count FROM knowledge_documents ORDER BY id",
    "chunks": "SELECT id, document_id::text, ordinal, content, embedding::text FROM knowledge_chunks ORDER BY id",
    "blobs": "SELECT sha256, size_bytes, (SELECT count(*) FROM knowledge_blob_pieces p WHERE p.sha256 = b.sha256) FROM knowledge_blobs b ORDER BY sha256",
    "files": "SELECT session_id::text, path, data, size, sha256, modified_at FROM workspace_files ORDER BY session_id, path",
}
STAGING = "SELECT (SELECT count(*) FROM restore_segments) + (SELECT count(*) FROM restore_blobs) + (SELECT count(*) FROM restore_file_pieces)"
# The restore lock's two advisory locks, held by an apply; its request for the gate, waiting.
HELD = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND granted"
WAITING = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND NOT granted"
IN_PROGRESS = {"error": {"code": "restore_in_progress", "message": errors.RestoreInProgress().message}}


def query(database_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


async def until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll check() while the event loop serves the in-process gateway; fail naming `what` after timeout seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.02)


def state(database_url: str) -> dict[str, list[tuple]]:
    return {kind: query(database_url, sql) for kind, sql in STATE.items()}


def settings_of(database_url: str) -> dict:
    return query(database_url, "SELECT data FROM agent_settings")[0][0]


async def upload(api: httpx.AsyncClient, archive: bytes, name: str = "nightly.tar") -> httpx.Response:
    return await api.post("/v1/restores", files={"file": (name, archive, "application/x-tar")})


async def change_everything(api: httpx.AsyncClient, installed: Installed) -> None:
    """What happens after a backup: a memory, the file and a chat's file deleted, a chat (with a file) added, a setting changed."""
    memories = (await api.get("/v1/memories")).json()["memories"]
    assert (await api.delete(f"/v1/memories/{memories[0]['id']}")).status_code == 204
    assert (await api.delete(f"/v1/sessions/{installed.session_id}/files/lamp.bin")).status_code == 204
    assert (await api.delete(f"/v1/knowledge/{installed.document_id}")).status_code == 204
    after = await api.post("/v1/sessions", json={"title": "After the backup"})
    sent = await api.post(f"/v1/sessions/{after.json()['id']}/messages", data={"content": "later"}, files={"files": ("later.txt", b"later")})
    assert (after.status_code, sent.status_code) == (201, 202)
    assert (await api.put("/v1/settings", json={"temperature": 1.5})).status_code == 200


async def test_a_restore_is_previewed_then_brings_everything_back_keeping_or_taking_the_settings(installed: Installed, api) -> None:
    url = installed.database_url
    archive = await make_archive(url)
    before, backed_up_settings = state(url), settings_of(url)
    await change_everything(api, installed)
    changed, changed_settings = state(url), settings_of(url)

    staged = await upload(api, archive)
    assert staged.status_code == 201, staged.text
    preview = staged.json()
    assert (preview["state"], preview["filename"], preview["size_bytes"], preview["owners_unmatched"]) == ("staged", "nightly.tar", len(archive), 0)
    assert preview["counts"] == {
        "sessions": 1, "messages": 2, "events": 2, "memories": 2, "documents": 1, "chunks": 2, "files": 3, "tasks": 0, "task_runs": 0,
        "blobs": 1, "file_blobs": 2,
    }  # fmt: skip
    assert preview["settings_diff"] == [{"key": "temperature", "current": 1.5, "backup": 0.25}]
    assert {**state(url), "blobs": []} == changed  # staging changes nothing Soma serves (the file's bytes wait aside)
    assert (await api.get(f"/v1/restores/{preview['id']}")).json() == preview

    applied = await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "preserve_settings"})
    assert applied.status_code == 200, applied.text
    assert (applied.json()["state"], applied.json()["mode"]) == ("applied", "preserve_settings")
    assert state(url) == before
    assert settings_of(url) == changed_settings
    assert query(url, STAGING) == [(0,)]  # the staged copy is dropped once applied
    again = await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "overwrite"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "restore_not_staged")

    second = (await upload(api, archive)).json()
    applied = await api.post(f"/v1/restores/{second['id']}/apply", json={"mode": "overwrite"})
    assert applied.status_code == 200, applied.text
    assert state(url) == before
    assert settings_of(url) == backed_up_settings
    audit = query(url, "SELECT actor, target, details->>'mode', details->'counts'->>'memories' FROM audit_log WHERE action = 'backup.restored' ORDER BY id")
    admin = f"key:{bootstrap.NAME}"
    assert audit == [(admin, preview["id"], "preserve_settings", "2"), (admin, second["id"], "overwrite", "2")]

    # New rows after a restore get new ids, never one a restored row has.
    created = await api.post(f"/v1/sessions/{installed.session_id}/messages", json={"content": "And after the restore?"})
    assert created.status_code in (201, 202), created.text
    assert created.json()["id"] > max(row[0] for row in before["messages"])


async def test_chats_of_people_unknown_here_are_restored_without_an_owner(installed: Installed, api) -> None:
    archive = await make_archive(installed.database_url)
    query(installed.database_url, "SELECT 1")
    with psycopg.connect(installed.database_url) as conn:
        conn.execute("DELETE FROM users")
    preview = (await upload(api, archive)).json()
    assert preview["owners_unmatched"] == 1
    assert (await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "overwrite"})).status_code == 200
    assert query(installed.database_url, "SELECT title, owner FROM chat_sessions") == [("Lighthouse", None)]


async def test_a_backup_from_before_compaction_restores_without_the_deltas_of_stored_answers(installed: Installed, api) -> None:
    url = installed.database_url
    chat = uuid.uuid4()
    kinds = ["message.created", "turn.started", "assistant.delta", "assistant.delta", "assistant.message", "message.created",
             "turn.started", "assistant.delta"]  # fmt: skip  (an answer stored, the next one streaming)
    with psycopg.connect(url) as conn:  # a log as Soma kept it before migration 0010
        conn.execute("INSERT INTO chat_sessions (id, title, last_event_id) VALUES (%s, 'Old chat', %s)", (chat, len(kinds)))
        for number, kind in enumerate(kinds, start=1):
            conn.execute("INSERT INTO session_events (session_id, id, type, data) VALUES (%s, %s, %s, '{}')", (chat, number, kind))
    archive = await make_archive(url)

    preview = (await upload(api, archive)).json()
    assert (await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "overwrite"})).status_code == 200

    kept = query(url, f"SELECT id, type FROM session_events WHERE session_id = '{chat}' ORDER BY id")
    assert kept == [(1, "message.created"), (2, "turn.started"), (5, "assistant.message"), (6, "message.created"),
                    (7, "turn.started"), (8, "assistant.delta")]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
async def test_a_hostile_or_wrong_archive_is_refused_with_nothing_written(case: str, installed: Installed, api) -> None:
    url = installed.database_url
    archive = await make_archive(url)
    bad, error = hostile(case, entries_of(archive), archive, installed.sha256)
    before = state(url)
    refused = await upload(api, bad)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == {"code": error.code, "message": error.message}
    assert state(url) == before
    assert query(url, "SELECT count(*) FROM restores") == [(0,)]
    assert query(url, STAGING) == [(0,)]


async def test_a_staged_restore_can_be_discarded_and_keeps_its_file_while_staged(installed: Installed, api) -> None:
    url = installed.database_url
    archive = await make_archive(url)
    preview = (await upload(api, archive)).json()
    # The document is deleted while the restore is staged: the restore still holds the file's bytes.
    assert (await api.delete(f"/v1/knowledge/{installed.document_id}")).status_code == 204
    assert query(url, "SELECT count(*) FROM knowledge_blobs") == [(1,)]
    assert (await api.delete(f"/v1/restores/{preview['id']}")).status_code == 204
    assert query(url, "SELECT count(*) FROM knowledge_blobs") == [(0,)]  # discarded: nothing holds them now
    assert query(url, STAGING) == [(0,)]
    gone = await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "overwrite"})
    assert (gone.status_code, gone.json()["error"]["code"]) == (409, "restore_not_staged")
    unknown = await api.post(f"/v1/restores/{uuid.uuid4()}/apply", json={"mode": "overwrite"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "restore_not_found")
    bad_mode = await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "merge"})
    assert bad_mode.status_code == 422
    listed = (await api.get("/v1/restores")).json()["restores"]
    assert [(r["id"], r["state"]) for r in listed] == [(preview["id"], "discarded")]


async def test_while_a_restore_applies_writes_get_503_restore_in_progress_and_a_second_restore_is_told_so(installed: Installed, api) -> None:
    url = installed.database_url
    chat = (await api.post("/v1/sessions", json={"title": "Before the restore"})).json()
    first, second = [(await upload(api, await make_archive(url))).json() for _ in range(2)]
    # A turn still running (its job `doing`, no worker to end it) keeps the first apply draining, holding the lock.
    assert len(query(url, "UPDATE procrastinate_jobs SET status = 'doing' RETURNING id")) == 1  # the installed chat's turn
    applying = asyncio.create_task(api.post(f"/v1/restores/{first['id']}/apply", json={"mode": "overwrite"}))
    await until(lambda: query(url, HELD) == [(2,)], "the first apply to hold the restore lock")

    refused = await api.post("/v1/sessions", json={"title": "During the restore"})
    assert (refused.status_code, refused.json(), refused.headers["retry-after"]) == (503, IN_PROGRESS, "5")
    posted = await api.post(f"/v1/sessions/{chat['id']}/messages", json={"content": "Lost?"})  # checks the lock in its statement
    assert (posted.status_code, posted.json(), posted.headers["retry-after"]) == (503, IN_PROGRESS, "5")
    assert (await api.put("/v1/settings", json={"temperature": 1.0})).status_code == 503
    assert (await api.get("/v1/sessions")).status_code == 200  # reading goes on
    assert (await upload(api, await make_archive(url))).status_code == 201  # staging another changes nothing served
    busy = await api.post(f"/v1/restores/{second['id']}/apply", json={"mode": "overwrite"})
    message = f"Another restore is being applied. {errors.RestoreInProgress.__doc__}"
    assert (busy.status_code, busy.json(), busy.headers["retry-after"]) == (503, {"error": {"code": "restore_in_progress", "message": message}}, "5")

    query(url, "UPDATE procrastinate_jobs SET status = 'succeeded' RETURNING id")  # the turn ends: the first apply goes on
    assert (await applying).status_code == 200
    assert (await api.post("/v1/sessions", json={"title": "After it"})).status_code == 201
    assert (await api.post(f"/v1/restores/{second['id']}/apply", json={"mode": "overwrite"})).status_code == 200


async def test_an_apply_waits_for_writes_in_flight_while_new_writes_are_told_a_restore_is_in_progress(installed: Installed, api) -> None:
    url = installed.database_url
    archive = await make_archive(url)
    before = state(url)
    await change_everything(api, installed)
    preview = (await upload(api, archive)).json()
    with psycopg.connect(url) as writer:
        writer.execute(f"SELECT pg_advisory_xact_lock_shared({restore_lock.GATE})")  # held as a message post holds it
        applying = asyncio.create_task(api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "overwrite"}))
        await until(lambda: query(url, WAITING) == [(1,)], "the apply to wait for the write in flight")
        # A waiting apply's request makes later shared requests queue behind it: each write's try fails at once.
        posted = await api.post(f"/v1/sessions/{installed.session_id}/messages", json={"content": "Now?"})
        assert (posted.status_code, posted.json()) == (503, IN_PROGRESS)
        created = await api.post("/v1/sessions", json={"title": "Now?"})
        assert (created.status_code, created.json()) == (503, IN_PROGRESS)
        assert not applying.done()
    applied = await applying  # the write in flight ended, and the apply went ahead
    assert (applied.status_code, applied.json()["state"]) == (200, "applied"), applied.text
    assert state(url) == before


async def test_writes_in_flight_past_the_wait_make_an_apply_give_up_with_restore_busy_changing_nothing(installed: Installed, api, gateway) -> None:
    url = installed.database_url
    archive = await make_archive(url)
    await change_everything(api, installed)
    preview = (await upload(api, archive)).json()
    changed = state(url)
    with psycopg.connect(url) as writer:
        writer.execute(f"SELECT pg_advisory_xact_lock_shared({restore_lock.GATE})")
        with pytest.raises(errors.RestoreBusy) as busy:
            await apply.apply(gateway.state.engine, uuid.UUID(preview["id"]), "overwrite", admin.Actor("cli:test"), lock_wait=0.2)
    assert busy.value.message == f"Writes in flight did not end within 0.2 s. {errors.RestoreBusy.__doc__}"
    assert (busy.value.status_code, busy.value.code, busy.value.retry_after) == (503, "restore_busy", 5)
    assert state(url) == changed
    assert (await api.get(f"/v1/restores/{preview['id']}")).json()["state"] == "staged"
    assert (await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "overwrite"})).status_code == 200
