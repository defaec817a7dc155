"""A database with something of everything a backup holds (and what it must leave out), and archive helpers."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from soma.auth import admin
from soma.backup import create
from soma.conversations import messages, sessions
from soma.db import engine as db_engine
from soma.db import tables
from soma.knowledge import blobs, store
from soma.profiles import store as profiles
from soma.settings import store as settings_store
from soma.tools import choices, servers
from soma.tools import store as tool_store
from soma.workspaces import store as workspace_store

USERNAME = "zebedee-backup-tester"
# A tool server as the backup keeps it: its secret as a reference only.
TIDES = {"command": "uvx", "args": ["tides-mcp"], "env": {"TIDES_API_KEY": "vault:kv/mcp/tides#key"}, "disabled": True}
PASSWORD = "a long enough password for the tester"
FILE_BYTES = b"".join(f"line {n}: the lighthouse keeper's log\n".encode() for n in range(9000))  # > one piece
assert len(FILE_BYTES) > blobs.PIECE_BYTES
LOG = b"day,ships\nmonday,3\ntuesday,5\n"
# The chat's files: one content twice (a backup holds it once), and one over a piece (read in parts).
WORKSPACE = {"log.csv": LOG, "copies/log.csv": LOG, "lamp.bin": bytes(range(256)) * (4096 + 100)}
assert len(WORKSPACE["lamp.bin"]) > workspace_store.PIECE_BYTES


@dataclass
class Installed:
    """What the populated database holds that a test asserts on."""

    database_url: str
    api_key: str
    owner: str
    session_id: str
    document_id: str
    sha256: str
    files: dict[str, bytes]  # the chat's files


def vector(seed: int) -> list[float]:
    return [((seed + i) % 7) / 8 for i in range(tables.EMBEDDING_DIMENSIONS)]


@pytest.fixture
async def installed(database_url: str) -> Installed:
    """One chat (two messages, their events, three files) owned by a user, two memories, one indexed document, changed settings."""
    return await populate(database_url)


async def populate(database_url: str, file_bytes: bytes = FILE_BYTES, workspace: dict[str, bytes] = WORKSPACE) -> Installed:
    """Fill a fresh database as `installed` describes; file_bytes is the knowledge file's content, workspace the chat's files."""
    engine = db_engine.create(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            actor = admin.Actor("cli:test@host")
            user = await admin.create_user(conn, actor, USERNAME, PASSWORD, "admin")
            api_key, _row = await admin.create_key(conn, actor, "nightly-backup-key", ["admin"], None)
            owner = f"user:{user['id']}"
            chat = await sessions.create(conn, "Lighthouse", owner=owner)
            question = await messages.post_user_message(conn, uuid.UUID(chat["id"]), "What does the keeper log?", owner=owner)
            await messages.store_reply(conn, uuid.UUID(chat["id"]), question["id"], "Every ship that passes.", {"citations": []})
            await workspace_store.apply(conn, uuid.UUID(chat["id"]), workspace.items(), [], 10 * workspace_store.MiB)
            for n, content in enumerate(("The keeper is called Ada.", "The lamp is lit at dusk.")):
                values = {"content": content, "embedding": vector(n), "embedding_model": "test-model", "embedding_runtime": "test-runtime", "source": "user"}
                await conn.execute(tables.memories.insert().values(values))
            await settings_store.update(conn, {"temperature": 0.25, "system_prompt": "You keep the lighthouse log."})
            await tool_store.put(conn, actor, servers.parse("tides", TIDES, None))  # disabled: nothing connects to it
            await choices.choose(conn, actor, "soma", "forget", {"approval": "ask"})
        async with engine.connect() as conn:
            upload = blobs.Writer(conn, len(file_bytes))
            await upload.write(file_bytes)
            await upload.finish()
            document, _created = await store.create(conn, upload, "keeper-log.txt", "text/plain")
            await conn.commit()
        async with engine.begin() as conn:
            await store.start_indexing(conn, uuid.UUID(document["id"]))
            chunks = ["line 0: the lighthouse keeper's log", "line 1: the lighthouse keeper's log"]
            await store.finish_indexing(conn, uuid.UUID(document["id"]), chunks, [vector(5), vector(6)], "test-model", "test-runtime")
    finally:
        await engine.dispose()
    return Installed(database_url, api_key, owner, chat["id"], document["id"], document["sha256"], dict(workspace))


# What populate_agents adds: a profile, a child chat delegated from the lighthouse chat, a task run with that profile in that chat.
KEEPER = profiles.Profile(
    name="keeper", description="Keeps the lighthouse log.", system_prompt="Log every ship.", tools=["search_knowledge"], max_tool_steps=3
)
TASK = {
    "name": "Nightly log", "prompt": "Sum up the day's ships.", "profile": "keeper", "schedule": {"cron": "0 21 * * *", "timezone": "Europe/Lisbon"},
    "target": "same_chat", "missed": "run_once", "paused": False, "webhook_url": "https://example.org/ships", "webhook_secret": "whsec-keeper-5d1f",
}  # fmt: skip
RUN = {
    "manual": False, "late": True, "outcome": "answered", "reason": None,
    "webhook": {"attempts": 2, "status": 200, "error": None, "delivered_at": "2026-11-02T21:00:09+00:00"},
}  # fmt: skip


@dataclass
class Agents:
    """What populate_agents added."""

    child_id: str
    task_id: str
    run_id: int


async def populate_agents(database_url: str, installed: Installed) -> Agents:
    """Add to a populated database the state of agent profiles, delegation and scheduled tasks (migration 0014): a profile
    `keeper`, a child chat of the lighthouse chat (depth 1, made by its call m1g1s1c0), and a task in that chat with one run."""
    engine = db_engine.create(database_url, pool_size=1)
    chats, tasks, runs = tables.chat_sessions, tables.scheduled_tasks, tables.task_runs
    try:
        async with engine.begin() as conn:
            await profiles.create(conn, KEEPER)
            child = {"title": "Ship count", "owner": installed.owner, "profile": "researcher", "parent_session_id": installed.session_id,
                     "parent_call_id": "m1g1s1c0", "depth": 1}  # fmt: skip
            child_id = (await conn.execute(chats.insert().values(child).returning(chats.c.id))).scalar_one()
            task = {**TASK, "owner": installed.owner, "session_id": installed.session_id, "next_run_at": sa.text("now() + interval '1 day'")}
            task_id = (await conn.execute(tasks.insert().values(task).returning(tasks.c.id))).scalar_one()
            run = {**RUN, "task_id": task_id, "session_id": installed.session_id, "due_at": sa.text("now() - interval '1 hour'"),
                   "started_at": sa.text("now() - interval '59 minutes'"), "finished_at": sa.text("now() - interval '58 minutes'")}  # fmt: skip
            run_id = (await conn.execute(runs.insert().values(run).returning(runs.c.id))).scalar_one()
    finally:
        await engine.dispose()
    return Agents(str(child_id), str(task_id), run_id)


async def make_archive(database_url: str) -> bytes:
    """A backup of the database, made in-process."""
    engine = db_engine.create(database_url, pool_size=1)
    try:
        return b"".join([chunk async for chunk in create.Backup(engine).chunks()])
    finally:
        await engine.dispose()


def entries_of(archive: bytes) -> list[tuple[str, bytes]]:
    """(name, content) of every entry, in order, read with the standard library's tarfile."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r|") as tar:
        return [(member.name, tar.extractfile(member).read()) for member in tar]


def build(entries: list[tuple[str, bytes]], members: list[tarfile.TarInfo] = (), checksums: bool = True) -> bytes:
    """An archive of these entries, with a fresh checksums.json for them unless one is among them; `members` appended raw."""
    out = io.BytesIO()
    body = [(n, d) for n, d in entries if n != "soma-backup/checksums.json"]
    if checksums:
        listed = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in body]
        body.append(("soma-backup/checksums.json", json.dumps(listed).encode()))
    else:
        body = entries
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.size else None)
        for name, data in body:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def soma_bytes(env: dict[str, str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """`soma ARGS` with binary standard input and output (tests/procs.run_soma speaks text)."""
    return subprocess.run([sys.executable, "-m", "soma", *args], env=env, input=stdin, capture_output=True, timeout=60)
