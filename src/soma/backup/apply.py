"""Applying a staged restore: chats (with their files), scheduled tasks, memories and knowledge replaced by the backup's, in one transaction.

It begins by taking the restore lock (soma.db.restore_lock): from then on new writes get 503
restore_in_progress on every replica and a second restore is told that this one is being
applied; writes already in flight are waited for, and when they do not end in time it gives up
with 503 restore_busy. Then turns already running get DRAIN_SECONDS to finish, and then the tables it replaces are locked,
emptied and filled from the staged segments. Any failure (a constraint, a killed gateway, a lost
connection) rolls everything back: the old state stays as it was. Once it commits the next turn
reads the restored memories, knowledge and settings, and open chat streams are told to reload.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.auth import admin
from soma.backup import format, rows, staged
from soma.conversations import events
from soma.conversations import queue as turn_queue
from soma.db import restore_lock, tables
from soma.embeddings import reembed
from soma.knowledge import blobs, ingest
from soma.profiles import saved as saved_profiles
from soma.tools import saved as saved_tools

log = logging.getLogger(__name__)

ACTION = "backup.restored"
MODES = ("overwrite", "preserve_settings")
DRAIN_SECONDS = 30.0  # how long running turns may take to finish before the apply goes ahead
DRAIN_POLL_SECONDS = 0.2

# Every backup snapshot takes ACCESS SHARE locks on these in this order too (snapshot.begin), so a
# backup being made and a restore wait for each other instead of deadlocking or seeing a half.
REPLACED = (
    "chat_sessions", "messages", "session_events", "memories", "knowledge_documents", "knowledge_chunks", "workspace_files",
    "scheduled_tasks", "task_runs",
)  # fmt: skip

INTERRUPTED = "The backup was made while this run was under way; the restore ended it."
# How a staged column is written where it is not copied as it is.
_COLUMN_RULES = {
    ("sessions", "owner"): f"CASE WHEN r.owner IN ({staged.KNOWN_OWNERS}) THEN r.owner END",
    # A document backed up while it was being indexed has no chunks: it is indexed again.
    ("documents", "state"): "CASE WHEN r.state IN ('ready', 'failed') THEN r.state ELSE 'pending' END",
    # A task keeps its owner (the column allows no NULL) but never runs for one this installation does not know.
    ("tasks", "paused"): f"r.paused OR r.owner NOT IN ({staged.KNOWN_OWNERS})",
    # A profile that is not here (a preserve_settings restore keeps this installation's): the task runs on the settings alone.
    ("tasks", "profile"): "CASE WHEN r.profile IN (SELECT name FROM agent_profiles) THEN r.profile END",
    # A run under way when the backup was made has no turn left to finish it.
    ("task_runs", "outcome"): "CASE WHEN r.outcome = 'running' THEN 'failed' ELSE r.outcome END",
    ("task_runs", "reason"): f"CASE WHEN r.outcome = 'running' THEN '{INTERRUPTED}' ELSE r.reason END",
    ("task_runs", "finished_at"): "CASE WHEN r.outcome = 'running' THEN now() ELSE r.finished_at END",
}
# Columns a kind's records lack, and what fills them: a chat file's bytes are its staged pieces, joined.
_ADDED_COLUMNS = {
    "files": {
        "data": "coalesce((SELECT string_agg(p.data, ''::bytea ORDER BY p.ordinal) FROM restore_file_pieces p"
        " WHERE p.restore_id = :restore_id AND p.sha256 = r.sha256), ''::bytea)",
    },
}
_IDENTITIES = ("messages", "memories", "knowledge_chunks", "task_runs")  # tables whose ids come from a sequence

# Vector indexes are dropped before the insert and built again after it: pgvector inserting rows
# one at a time into HNSW took 365 s for 100k memories, building the index afterwards 55 s
# (bench/backup.py). Building wants the whole graph in maintenance_work_mem, about this much a row.
HNSW_INDEXES = ("memories_embedding_hnsw", "knowledge_chunks_embedding_hnsw")
HNSW_BYTES_PER_ROW = 4096
HNSW_MEMORY = (64 * 1024 * 1024, 1024 * 1024 * 1024)  # at least PostgreSQL's default, at most 1 GiB


async def apply(
    engine: AsyncEngine, restore_id: uuid.UUID, mode: str, actor: admin.Actor, lock_wait: float = restore_lock.WAIT_SECONDS
) -> dict[str, Any]:
    """Replace chats, tasks, memories and knowledge (and the settings, tool servers and profiles when mode is `overwrite`) with the staged backup's.

    `lock_wait` is how many seconds writes in flight may keep it waiting before RestoreBusy.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    started = time.monotonic()
    async with engine.connect() as conn:
        async with conn.begin():
            await restore_lock.shut(conn, lock_wait)
            row = await _staged(conn, restore_id)
            await _drain(conn)
            await conn.execute(sa.text(f"LOCK TABLE {', '.join(REPLACED)} IN ACCESS EXCLUSIVE MODE"))
            await _empty(conn)
            if mode == "overwrite":
                await _overwrite_settings(conn, row.settings["data"])
                if row.settings.get("tools") is not None:  # None: made before tool servers, or another program's backup
                    await saved_tools.restore(conn, row.settings["tools"])
                if row.settings.get("profiles") is not None:  # None: made before profiles; before the tasks that name them
                    await saved_profiles.restore(conn, row.settings["profiles"])
            try:
                await _fill(conn, restore_id, row.manifest["counts"])
            except (sa.exc.IntegrityError, sa.exc.DataError) as exc:  # the reader's checks should make this unreachable
                raise errors.BackupDataInvalid(f"The backup's data does not fit this database ({_first_line(exc)}).") from None
            # Vectors another embedder made (an older backup's, or another installation's) are made again
            # in the background; the job commits with the rows it re-embeds.
            if outdated := await reembed.queue(conn):
                log.info("restore %s brought %d vectors of another embedder: re-embedding them", restore_id, outdated)
            await staged.finish(conn, restore_id, "applied", actor.name, mode)
            await blobs.remove_all_unreferenced(conn)  # the replaced documents' bytes
            details = {"mode": mode, "counts": row.manifest["counts"], "backup_created_at": row.manifest["created_at"], "filename": row.filename}
            await actor.record(conn, ACTION, str(restore_id), details)
            await events.end_every_stream(conn, events.END_FOR_RESTORE, str(restore_id))
        log.info("restore %s applied (%s) in %.1fs: %s", restore_id, mode, time.monotonic() - started, format.counts_line(row.manifest["counts"]))
        return await staged.describe(conn, restore_id)


async def _staged(conn: AsyncConnection, restore_id: uuid.UUID) -> Any:
    """The restore's row, locked, once it is known to be staged for this schema."""
    row = await staged.get(conn, restore_id, lock=True)
    if row.state != "staged":
        raise errors.RestoreNotStaged(f"The restore {restore_id} is {row.state}.")
    revision = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
    if row.schema_revision != revision:
        raise errors.RestoreStale(f"It was staged for schema {row.schema_revision}; the database is at {revision}.")
    return row


async def _drain(conn: AsyncConnection) -> None:
    """Wait up to DRAIN_SECONDS for running turns to finish; the gate keeps new ones from being posted."""
    running = sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' AND queue_name = :queue")
    deadline = time.monotonic() + DRAIN_SECONDS
    while (count := (await conn.execute(running, {"queue": turn_queue.QUEUE})).scalar_one()) > 0:
        if time.monotonic() > deadline:
            log.warning("restore goes ahead with %d turns still running: their chats are replaced under them", count)
            return
        await asyncio.sleep(DRAIN_POLL_SECONDS)


async def _empty(conn: AsyncConnection) -> None:
    """Empty the replaced tables; queued work for the old rows goes."""
    stale_jobs = sa.text("DELETE FROM procrastinate_jobs WHERE status = 'todo' AND queue_name IN (:turns, :knowledge)")
    await conn.execute(stale_jobs, {"turns": turn_queue.QUEUE, "knowledge": ingest.QUEUE})
    await conn.execute(sa.text(f"TRUNCATE {', '.join(REPLACED)}"))


async def _fill(conn: AsyncConnection, restore_id: uuid.UUID, counts: dict[str, int]) -> None:
    """Fill the emptied tables from the staged segments, and build again what the insert left out."""
    indexes = await _drop_vector_indexes(conn)
    for kind in format.TABLES:
        await conn.execute(_insert(kind), {"restore_id": restore_id, "kind": kind})
    await events.compact_every_session(conn)  # a backup made before migration 0010 holds every answer's deltas
    memory = max(HNSW_MEMORY[0], min(HNSW_MEMORY[1], HNSW_BYTES_PER_ROW * max(counts["memories"], counts["chunks"])))
    await conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{memory // 1024}kB'"))
    for definition in indexes:
        await conn.execute(sa.text(definition))
    for table in _IDENTITIES:
        await conn.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST("
            f"(SELECT COALESCE(max(id), 0) FROM {table}), "
            f"COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{table}', 'id')::regclass), 0), 1))"
        ))  # fmt: skip  (never backwards: old ids may still be named in logs and links)
    pending = sa.select(tables.knowledge_documents.c.id).where(tables.knowledge_documents.c.state == "pending")
    for document_id in (await conn.execute(pending)).scalars().all():
        await ingest.enqueue(conn, str(document_id))


async def _drop_vector_indexes(conn: AsyncConnection) -> list[str]:
    """Drop the HNSW indexes; returns their definitions exactly as the migrations made them."""
    found = await conn.execute(
        sa.text("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(:names)"),
        {"names": list(HNSW_INDEXES)},
    )
    definitions = list(found.scalars())
    for name in HNSW_INDEXES:
        await conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    return definitions


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__


def _insert(kind: str) -> sa.TextClause:
    """INSERT … SELECT of one kind's staged records, unpacked by PostgreSQL in the table's own column types."""
    table, columns, _order = rows.SCHEMAS[kind]
    added = _ADDED_COLUMNS.get(kind, {})
    names = ", ".join([*columns, *added])
    values = ", ".join([*(_COLUMN_RULES.get((kind, name), f"r.{name}") for name in columns), *added.values()])
    return sa.text(
        f"INSERT INTO {table.name} ({names}) SELECT {values} "
        f"FROM restore_segments s CROSS JOIN LATERAL json_populate_recordset(NULL::{table.name}, s.records) AS r "
        "WHERE s.restore_id = :restore_id AND s.kind = :kind ORDER BY s.number"
    )


async def _overwrite_settings(conn: AsyncConnection, data: dict[str, Any]) -> None:
    """The backup's settings, as a new version (so every reader sees that they changed)."""
    t = tables.agent_settings
    await conn.execute(sa.update(t).values(data=data, version=t.c.version + 1, updated_at=sa.func.now()))
