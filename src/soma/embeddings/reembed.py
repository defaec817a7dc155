"""Re-embedding: the vectors another embedder made are made again by this Soma's, in the background, a batch at a time.

The identity decides, never the vectors: a row whose (embedding_model, embedding_runtime) is not this
Soma's embedder's (soma.embeddings.embedder) is re-embedded, however near the two embedders' vectors are.

`soma migrate` and `soma up` (after_migration, the step they give soma.db.migrate) and an applied restore run QUEUE: when such rows exist it
records the work in `reembedding` (total, done) and queues one job (TASK_NAME) unless one is queued or
running. The worker's job (`run`) reads BATCH rows at a time in id order, embeds them outside any
transaction, and writes each vector back only where the row still has the content and the identity it
read (a memory edited meanwhile keeps its own new vector); each batch commits with the progress (done,
and per table the last id passed), so after a worker is killed, procrastinate's stalled-job recovery
(soma.worker.recovery) queues the job again and the next worker goes on from the last committed batch.
Search goes on meanwhile: both embedders' vectors sit in the same index until the last batch.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.db import jobs, tables
from soma.embeddings import embedder as embedders
from soma.embeddings.embedder import Embedder
from soma.observability import metrics

log = logging.getLogger(__name__)

TASK_NAME = "soma.reembed"
QUEUE_NAME = "maintenance"
LOCK = "reembed"  # one job runs at a time, across every worker
BATCH = 64  # rows per embedding call and per commit: one forward pass of embedder.BATCH_SIZE texts
TABLES = (tables.memories, tables.knowledge_chunks)  # every table with a vector column

_OTHER = "(embedding_model, embedding_runtime) IS DISTINCT FROM (:model, :runtime)"
_COUNT = " + ".join(f"(SELECT count(*) FROM {t.name} WHERE {_OTHER})" for t in TABLES)

# The rows of another embedder, the work recorded (added to a run of the same embedder under way, else
# from 0) and the job queued unless one waits or runs: one statement, for `soma migrate`'s synchronous
# connection and a restore's asynchronous one alike. Returns how many rows are another embedder's, and
# whether a job was queued.
QUEUE = sa.text(
    f"""
    WITH outdated AS (SELECT {_COUNT} AS n),
    progress AS (
        INSERT INTO reembedding AS r (id, model, runtime, done, total, after, started_at, finished_at)
        SELECT 1, :model, :runtime, 0, n, '{{}}'::jsonb, now(), NULL FROM outdated WHERE n > 0
        ON CONFLICT (id) DO UPDATE SET
            done = CASE WHEN r.finished_at IS NULL AND (r.model, r.runtime) = (:model, :runtime) THEN r.done ELSE 0 END,
            total = CASE WHEN r.finished_at IS NULL AND (r.model, r.runtime) = (:model, :runtime)
                         THEN r.done ELSE 0 END + EXCLUDED.total,
            started_at = CASE WHEN r.finished_at IS NULL THEN r.started_at ELSE now() END,
            model = EXCLUDED.model, runtime = EXCLUDED.runtime, after = '{{}}'::jsonb, finished_at = NULL
        RETURNING 1
    ),
    queued AS (
        SELECT {jobs.defer_one("'{}'::jsonb")} AS id FROM progress
         WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE task_name = :task AND status IN ('todo', 'doing'))
    )
    SELECT (SELECT n FROM outdated) AS outdated, (SELECT count(*) FROM queued) AS queued
    """
).bindparams(queue=QUEUE_NAME, task=TASK_NAME, lock=LOCK, **embedders.IDENTITY)

_PROGRESS = sa.text("SELECT done, total FROM reembedding WHERE finished_at IS NULL")
_AFTER = sa.text("SELECT after FROM reembedding WHERE id = 1")
_ADVANCE = sa.text(
    "UPDATE reembedding SET done = least(done + :done, total), after = jsonb_set(after, ARRAY[CAST(:table AS text)], to_jsonb(CAST(:last AS bigint))) "
    "WHERE id = 1 RETURNING done, total"
)
_RESTART = sa.text("UPDATE reembedding SET after = '{}'::jsonb WHERE id = 1")
_FINISH = sa.text("UPDATE reembedding SET done = total, finished_at = now() WHERE id = 1 AND finished_at IS NULL RETURNING total")


def after_migration(conn: Connection) -> list[str]:
    """`soma migrate`'s and `soma up`'s step after the schema (db.migrate.upgrade's `after`): queue a re-embedding when needed."""
    outdated = conn.execute(QUEUE).one()
    return [queued_line(outdated.outdated)] if outdated.queued else []


def queued_line(outdated: int) -> str:
    """What `soma migrate` and `soma up` print when they queued a re-embedding."""
    return f"re-embedding {outdated} vectors made by another embedder, in the background on the worker (GET /ready shows progress)"


async def progress(conn: AsyncConnection) -> dict[str, int] | None:
    """{"done", "total"} while a re-embedding runs, else None (what GET /ready reports)."""
    row = (await conn.execute(_PROGRESS)).one_or_none()
    return None if row is None else {"done": row.done, "total": row.total}


async def queue(conn: AsyncConnection) -> int:
    """Queue the re-embedding, in the caller's transaction, when rows of another embedder exist; returns how many there are."""
    return (await conn.execute(QUEUE)).one().outdated


async def run(engine: AsyncEngine, embedder: Embedder) -> int:
    """Re-embed every row another embedder made, a batch a transaction, from where the last run stopped; returns the rows written."""
    identity = {"model": embedder.model_id, "runtime": embedder.runtime}
    async with engine.connect() as conn:
        after: dict[str, int] = dict((await conn.execute(_AFTER)).scalar_one_or_none() or {})
    written = 0
    while True:
        for table in TABLES:
            while batch := await _next_batch(engine, table, after.get(table.name, 0), identity):
                written += await _write(engine, embedder, table, batch)
                after[table.name] = batch[-1].id
        async with engine.begin() as conn:
            # A restore may have brought rows below the ids passed: go round again for those.
            if not (await conn.execute(sa.text(f"SELECT {_COUNT} AS n"), identity)).scalar_one():
                total = (await conn.execute(_FINISH)).scalar_one_or_none()
                _show(total, total)
                log.info("re-embedding finished: %d rows written by this run", written)
                return written
            await conn.execute(_RESTART)
        after = {}


async def _next_batch(engine: AsyncEngine, table: sa.Table, after: int, identity: dict[str, str]) -> list[sa.Row]:
    other = sa.tuple_(table.c.embedding_model, table.c.embedding_runtime).is_distinct_from(
        sa.tuple_(sa.literal(identity["model"]), sa.literal(identity["runtime"]))
    )
    query = sa.select(table.c.id, table.c.content, table.c.embedding_model, table.c.embedding_runtime).where(
        table.c.id > after, other
    )
    async with engine.connect() as conn:
        return list(await conn.execute(query.order_by(table.c.id).limit(BATCH)))


async def _write(engine: AsyncEngine, embedder: Embedder, table: sa.Table, batch: list[sa.Row]) -> int:
    """Embed one batch and store it with the progress, in one transaction; returns the rows written."""
    vectors = await embedder.embed([row.content for row in batch])
    written = 0
    async with engine.begin() as conn:
        for row, vector in zip(batch, vectors, strict=True):
            unchanged = (table.c.id == row.id, table.c.content == row.content,
                         table.c.embedding_model == row.embedding_model, table.c.embedding_runtime == row.embedding_runtime)  # fmt: skip
            update = sa.update(table).where(*unchanged)
            values: dict[str, Any] = {"embedding": vector, "embedding_model": embedder.model_id, "embedding_runtime": embedder.runtime}
            written += (await conn.execute(update.values(**values))).rowcount
        moved = (await conn.execute(_ADVANCE, {"done": len(batch), "table": table.name, "last": batch[-1].id})).one_or_none()
    if moved is not None:
        _show(moved.done, moved.total)
    return written


def _show(done: int | None, total: int | None) -> None:
    metrics.REEMBEDDING_DONE.set(done or 0)
    metrics.REEMBEDDING_TOTAL.set(total or 0)
