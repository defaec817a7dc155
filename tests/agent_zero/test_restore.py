"""Restoring Agent Zero backups: staged and previewed like Soma's, applied at once, then chatted with.

The gateway and the turn run in this process (the worker's turn and indexing code, called as its
tasks call them), with one embedder for both; tests/acceptance covers the processes themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from soma import config
from soma.db import engine as db_engine
from soma.gateway import app as gateway_app
from soma.knowledge import ingest
from tests import agent_zero_backup as a0
from tests import procs
from tests.backup.test_restore import STAGING, settings_of
from tests.conftest import ADMIN, client_of
from tests.conversations import harness
from tests.procs import run_soma, soma_env

COUNTS = {"sessions": 2, "messages": 7, "events": 7, "memories": 3, "documents": 2, "chunks": 0, "files": 0, "tasks": 0, "task_runs": 0,
          "blobs": 2, "file_blobs": 0}
SECRETS = ("sk-secret-openai", "hunter2", "ghp_x")


@pytest.fixture
async def api(settings: config.Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in-process, sharing the turn harness's embedder (loaded once per test process)."""
    app: FastAPI = gateway_app.create(settings, database_url, embedding_model=harness.EMBEDDER)
    async with app.router.lifespan_context(app), client_of(app, ADMIN) as client:
        yield client


def rows(database_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


async def upload(api: httpx.AsyncClient, path: Path) -> httpx.Response:
    return await api.post("/v1/restores", files={"file": (path.name, path.read_bytes(), "application/zip")})


async def index_imported_files(database_url: str) -> None:
    """What the worker does with the ingest jobs the apply queued."""
    engine = db_engine.create(database_url, pool_size=1)
    try:
        for (document_id,) in rows(database_url, "SELECT id FROM knowledge_documents ORDER BY filename"):
            assert await ingest.run(engine, harness.EMBEDDER, document_id) == "ready"
    finally:
        await engine.dispose()


async def test_an_agent_zero_backup_is_previewed_applied_and_its_memory_and_knowledge_used_by_the_next_turn(
    api: httpx.AsyncClient, database_url: str, slm: procs.ScriptedSLM, settings: config.Settings, tmp_path: Path
) -> None:
    assert (await api.post("/v1/sessions", json={"title": "Made in Soma"})).status_code == 201
    settings_before = settings_of(database_url)
    staged = await upload(api, a0.write(tmp_path / "agent-zero-backup.zip"))
    assert staged.status_code == 201, staged.text
    preview = staged.json()
    assert not any(secret in staged.text for secret in SECRETS)
    assert (preview["state"], preview["filename"], preview["counts"]) == ("staged", "agent-zero-backup.zip", COUNTS)
    manifest = preview["manifest"]
    assert (manifest["format"], manifest["agent_zero_version"], manifest["created_at"]) == ("agent-zero", "M v1.7", "2025-11-02T10:15:00.123456Z")
    # Agent Zero's preview counts in Soma's words too, as GET /v1/restores/{id} shows them.
    assert manifest["agent_zero"]["counts"] == {kind: COUNTS[kind] for kind in ("sessions", "messages", "memories", "documents")}
    assert (await api.get(f"/v1/restores/{preview['id']}")).json() == preview
    assert manifest["agent_zero"]["secrets_not_imported"][0] == {"file": "usr/.env", "keys": ["API_KEY_OPENAI", "AUTH_LOGIN", "AUTH_PASSWORD"]}
    assert {d["key"]: d["backup"] for d in preview["settings_diff"]} == {
        "slm_model": "gpt-4.1", "temperature": 0.2, "system_prompt": "You are Agent Zero, a careful assistant."
    }  # fmt: skip
    assert rows(database_url, "SELECT title FROM chat_sessions") == [("Made in Soma",)]  # nothing changed yet

    applied = await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "preserve_settings"})
    assert applied.status_code == 200, applied.text
    assert settings_of(database_url) == settings_before
    assert rows(database_url, STAGING) == [(0,)]
    chats = {s["title"]: s for s in (await api.get("/v1/sessions")).json()["sessions"]}
    assert sorted(chats) == ["Capitals", "Notes"]
    capitals = (await api.get(f"/v1/sessions/{chats['Capitals']['id']}/messages")).json()["messages"]
    assert [(m["role"], m["content"]) for m in capitals] == [
        ("user", "What is the capital of France?"), ("assistant", "Paris."), ("user", "And of Italy?"), ("assistant", "Rome.")
    ]  # fmt: skip
    assert [m["reply_to"] for m in capitals] == [None, capitals[0]["id"], None, capitals[2]["id"]]
    notes = (await api.get(f"/v1/sessions/{chats['Notes']['id']}/messages")).json()["messages"]
    assert notes[0]["content"] == "Summary of earlier messages (from Agent Zero): Earlier we planned a trip."
    assert notes[0]["meta"] == {"imported_from": "agent-zero", "summary": True}
    assert rows(database_url, "SELECT source, embedding_model FROM memories ORDER BY id") == [
        ("user", harness.EMBEDDER.model_id), ("agent", harness.EMBEDDER.model_id), ("agent", harness.EMBEDDER.model_id)
    ]  # fmt: skip

    # The apply queued the files' indexing; once indexed, a turn recalls the memory and cites the file.
    await index_imported_files(database_url)
    slm.reset()
    async with harness.turns(database_url, slm, settings) as turns:
        turn = await turns.answer("Which city does the user live in, and when is the coffee machine descaled?")
    assert turn.outcome == "answered"
    [system] = [m["content"] for m in slm.requests()[-1]["body"]["messages"] if m["role"] == "system"]
    assert "User lives in Lyon" in system and "descaled every Friday evening" in system
    reply = turn.messages[-1]
    assert "handbook.md" in [c["filename"] for c in reply["citations"]]

    # A chat imported from Agent Zero goes on in Soma: its history reaches the SLM.
    slm.reset()
    async with harness.turns(database_url, slm, settings) as turns:
        await turns.answer("And of Spain?", uuid.UUID(chats["Capitals"]["id"]))
    sent = [(m["role"], m["content"]) for m in slm.requests()[-1]["body"]["messages"] if m["role"] != "system"]
    assert sent[:2] == [("user", "What is the capital of France?"), ("assistant", "Paris.")]


async def test_overwrite_takes_the_mapped_settings_and_keeps_the_others(api: httpx.AsyncClient, database_url: str, tmp_path: Path) -> None:
    assert (await api.put("/v1/settings", json={"knowledge_k": 7})).status_code == 200
    staged = (await upload(api, a0.write(tmp_path / "a0.zip"))).json()
    applied = await api.post(f"/v1/restores/{staged['id']}/apply", json={"mode": "overwrite"})
    assert applied.status_code == 200, applied.text
    now = settings_of(database_url)
    assert (now["slm_model"], now["temperature"], now["system_prompt"], now["knowledge_k"]) == (
        "gpt-4.1", 0.2, "You are Agent Zero, a careful assistant.", 7
    )  # fmt: skip


def _hostile(tmp_path: Path, case: str) -> Path:
    path = a0.write(tmp_path / f"{case}.zip")
    if case == "symlink":
        return a0.with_symlink(path)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif case == "traversal":
        a0.write(path, raw={"a0/usr/../../etc/cron.d/x": b"* * * * * root id"})
    return path


@pytest.mark.parametrize(("case", "code"), [("symlink", "agent_zero_archive_refused"), ("traversal", "agent_zero_archive_refused"),
                                            ("truncated", "agent_zero_archive_broken")])  # fmt: skip
async def test_a_hostile_or_broken_zip_is_refused_whole_and_leaves_nothing(
    api: httpx.AsyncClient, database_url: str, tmp_path: Path, case: str, code: str
) -> None:
    refused = await upload(api, _hostile(tmp_path, case))
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, code)
    assert rows(database_url, "SELECT count(*) FROM restores") == [(0,)]
    assert rows(database_url, "SELECT count(*) FROM knowledge_blobs") == [(0,)]


async def test_a_malicious_pickle_and_a_malformed_chat_are_skipped_with_their_reasons(
    api: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    entries = {
        **a0.files("M v1.7"),
        "/a0/usr/memory/default/index.pkl": a0.evil_pickle(f"touch {marker}"),
        "/a0/usr/chats/c3/chat.json": b'{"id": "c3", "agents": [{"number": 0, "history": "{oops"}]}',
    }
    staged = (await upload(api, a0.write(tmp_path / "a0.zip", entries=entries))).json()
    assert (staged["counts"]["memories"], staged["counts"]["sessions"]) == (0, 2)
    skipped = {s["what"]: s["why"] for s in staged["manifest"]["agent_zero"]["skipped"]}
    assert skipped["usr/memory/default/index.pkl"].startswith("index.pkl names ")
    assert skipped["usr/chats/c3/chat.json"].startswith("malformed chat.json: history is not JSON")
    assert (await api.post(f"/v1/restores/{staged['id']}/apply", json={"mode": "preserve_settings"})).status_code == 200
    assert not marker.exists()
    assert rows(database_url, "SELECT count(*) FROM memories") == [(0,)]


def test_the_cli_restores_a_0_9_7_backup_and_inspects_one_from_standard_input(database_url: str, tmp_path: Path) -> None:
    path = a0.write(tmp_path / "old.zip", version="v0.9.7")
    env = soma_env(database_url)
    argv = [sys.executable, "-m", "soma", "backup", "inspect", "-", "--json"]
    inspected = subprocess.run(argv, env=env, input=path.read_bytes(), capture_output=True, timeout=60)  # a pipe: not seekable
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["layout"] == "0.9.4-0.9.7"
    done = run_soma(env, "backup", "restore", str(path), "--mode", "overwrite", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"restored {path} (overwrite): 2 sessions, 7 messages, 7 events, 3 memories, 2 documents, 0 chunks, 0 files, 0 tasks, 0 task_runs, 2 blobs, 0 file_blobs\n"
    assert "not imported:    .env holds API_KEY_OPENAI, AUTH_LOGIN, AUTH_PASSWORD (values not shown)" in done.stderr
    assert rows(database_url, "SELECT title FROM chat_sessions ORDER BY title") == [("Capitals",), ("Notes",)]
    assert settings_of(database_url)["slm_model"] == "gpt-4.1"
