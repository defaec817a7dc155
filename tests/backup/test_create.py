"""`soma backup create` and GET /v1/backup: what an archive holds, in which order, and what it never holds."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import psycopg

from soma.auth import bootstrap
from soma.backup import streams, verify
from soma.db import schema
from tests.backup.conftest import FILE_BYTES, PASSWORD, USERNAME, Installed, entries_of, soma_bytes
from tests.conftest import client_of
from tests.procs import run_soma, soma_env

COUNTS = {"sessions": 1, "messages": 2, "events": 2, "memories": 2, "documents": 1, "chunks": 2, "files": 3, "tasks": 0, "task_runs": 0,
          "blobs": 1, "file_blobs": 2}


async def _assert_archive(archive: bytes, installed: Installed) -> None:
    entries = entries_of(archive)
    segments = [f"soma-backup/{kind}/000001.jsonl" for kind in ("sessions", "messages", "events", "memories", "documents", "chunks", "files")]
    contents = {hashlib.sha256(data).hexdigest(): data for data in installed.files.values()}  # each content once
    assert [name for name, _ in entries] == [
        "soma-backup/manifest.json", "soma-backup/settings.json", *segments,
        f"soma-backup/blobs/{installed.sha256}", *(f"soma-backup/file_blobs/{sha256}" for sha256 in sorted(contents)),
        "soma-backup/checksums.json",
    ]  # fmt: skip
    content = dict(entries)
    manifest = json.loads(content["soma-backup/manifest.json"])
    assert {k: v for k, v in manifest.items() if k != "created_at"} == {
        "format": "soma-backup", "format_version": 1, "soma_version": "0.1.0", "schema_revision": schema.head(),
        "embedder": {"model": "sentence-transformers/all-MiniLM-L6-v2", "runtime": "onnxruntime-int8"}, "counts": COUNTS,
    }  # fmt: skip
    assert manifest["created_at"].endswith("Z")
    settings = json.loads(content["soma-backup/settings.json"])
    assert (settings["version"], settings["data"]["temperature"], settings["data"]["system_prompt"]) == (2, 0.25, "You keep the lighthouse log.")
    assert content[f"soma-backup/blobs/{installed.sha256}"] == FILE_BYTES
    assert {sha256: content[f"soma-backup/file_blobs/{sha256}"] for sha256 in contents} == contents
    files = [json.loads(line) for line in content[segments[6]].splitlines()]
    assert sorted((f["session_id"], f["path"], f["size"], f["sha256"]) for f in files) == sorted(
        (installed.session_id, path, len(data), hashlib.sha256(data).hexdigest()) for path, data in installed.files.items()
    )
    [chat] = [json.loads(line) for line in content[segments[0]].splitlines()]
    assert (chat["id"], chat["title"], chat["owner"], chat["last_event_id"]) == (installed.session_id, "Lighthouse", installed.owner, 2)
    messages = [json.loads(line) for line in content[segments[1]].splitlines()]
    assert [(m["role"], m["content"]) for m in messages] == [("user", "What does the keeper log?"), ("assistant", "Every ship that passes.")]
    assert [json.loads(line)["type"] for line in content[segments[2]].splitlines()] == ["message.created", "assistant.message"]
    memories = [json.loads(line) for line in content[segments[3]].splitlines()]
    assert [(m["content"], len(m["embedding"]), m["embedding"][:3]) for m in memories] == [
        ("The keeper is called Ada.", 384, [0.0, 0.125, 0.25]), ("The lamp is lit at dusk.", 384, [0.125, 0.25, 0.375])
    ]
    # Nothing that identifies or authenticates anyone: no user name, key, password or its hash, no audit entry.
    for secret in (USERNAME, installed.api_key, installed.api_key[:12], PASSWORD, "$argon2", "nightly-backup-key", "user.created"):
        assert secret.encode() not in archive, secret
    assert (await verify.verify(streams.FileSource(io.BytesIO(archive)))).manifest == manifest


def _audit(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT action, actor, target, details FROM audit_log WHERE action = 'backup.created'").fetchall()


async def test_soma_backup_create_writes_the_whole_state_but_no_secret_and_audits_it(installed: Installed, tmp_path: Path) -> None:
    out = tmp_path / "nightly.tar"
    done = run_soma(soma_env(installed.database_url), "backup", "create", "--out", str(out))
    assert done.returncode == 0, done.stderr
    archive = out.read_bytes()
    counts = "1 sessions, 2 messages, 2 events, 2 memories, 1 documents, 2 chunks, 3 files, 0 tasks, 0 task_runs, 1 blobs, 2 file_blobs"
    assert done.stdout == f"backup written to {out}: {len(archive)} bytes; {counts}\n"
    assert list(tmp_path.iterdir()) == [out]  # the .partial file was renamed
    await _assert_archive(archive, installed)
    [(action, actor, target, details)] = _audit(installed.database_url)
    assert (action, actor.startswith("cli:"), target) == ("backup.created", True, str(out))
    assert details == {"counts": COUNTS, "size_bytes": len(archive), "schema_revision": schema.head()}


async def test_soma_backup_create_to_standard_output_streams_the_archive(installed: Installed) -> None:
    done = soma_bytes(soma_env(installed.database_url), "backup", "create", "--out", "-")
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().splitlines()[-1].startswith(f"backup written to standard output: {len(done.stdout)} bytes;")
    await _assert_archive(done.stdout, installed)


async def test_a_backup_that_cannot_be_written_leaves_no_file_and_says_why(installed: Installed, tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "b.tar"
    done = run_soma(soma_env(installed.database_url), "backup", "create", "--out", str(out))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"error: Cannot write {out}.partial (No such file or directory). Check the path and its permissions "
        "(and the free space where a backup is written), then run the command again.\n"
    )
    assert _audit(installed.database_url) == []


async def test_get_v1_backup_streams_an_attachment_to_admins_and_audits_it(installed: Installed, api, gateway) -> None:
    response = await api.get("/v1/backup")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="soma-backup-') and disposition.endswith('Z.tar"')
    await _assert_archive(response.content, installed)
    async with gateway.state.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT actor, target, details FROM audit_log WHERE action = 'backup.created'")).all()
    assert [(r.actor, r.target, r.details["size_bytes"]) for r in rows] == [(f"key:{bootstrap.NAME}", disposition[22:-1], len(response.content))]


async def test_get_v1_backup_is_for_admins_only(api, gateway) -> None:
    created = await api.post("/v1/users", json={"username": "member-mo", "password": PASSWORD, "role": "member"})
    assert created.status_code == 201, created.text
    async with client_of(gateway) as member:
        login = await member.post("/v1/auth/login", json={"username": "member-mo", "password": PASSWORD})
        assert login.status_code == 200
        refused = await member.get("/v1/backup")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    async with client_of(gateway) as stranger:
        anonymous = await stranger.get("/v1/backup")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "unauthenticated")
