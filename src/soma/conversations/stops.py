"""Stopping a chat's turn: the request (any gateway) and its watch in the running turn (any worker), met in PostgreSQL.

A running turn is asked to stop by a `turn_stops` row keyed by its job id, which the turn polls
every POLL_SECONDS; a deleted chat stops its turn the same way. Polling a primary key costs
little, works with any number of gateways and workers, and cannot miss a request the way a lost
NOTIFY can. A job retried after its worker died keeps its id, so the request holds for the retry.

The subordinate turns a turn delegates to run inside its job (soma.conversations.subordinates):
only the top turn polls; its `Signal` tells every turn of the tree at once, each keeps its partial
answer, and only the top turn clears the request. A stop posted to a subordinate chat stops the
turn of its top chat, which is the one running it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.conversations import events, messages, queue, sessions
from soma.db import engine as db_engine
from soma.db import tables

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # a stop reaches its running turn within this, then the SLM request is closed
STOPPED = "stopped"  # the reason of `turn.cancelled` for a queued turn removed by a stop

_stops, _sessions = tables.turn_stops, tables.chat_sessions


class Signal:
    """The stop of one tree of turns: raised once by the top turn's watch, read by every turn of the tree."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    @property
    def raised(self) -> bool:
        """True once the tree's turn was asked to stop (or its chat deleted)."""
        return self._event.is_set()

    def raise_(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()


async def request(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> dict[str, Any]:
    """Stop the chat's running turn and remove its queued ones; returns {"stopping", "removed"}.

    `stopping` is the user message whose answer is being cut short (None when nothing runs); the
    partial answer arrives as `assistant.message` with `stopped` true. `removed` are the user
    messages whose turns were queued: each gets `turn.cancelled` and stays unanswered. An answer
    already stored is left alone, so a stop racing the end of an answer never makes a second one:
    the session lock orders this against the worker's store_reply. A subordinate chat
    (`_subordinate`) stops its top chat's running turn, the whole tree.
    """
    chat = await sessions.get(conn, session_id, lock=True, owner=owner)
    if chat["parent_session_id"] is not None:
        return await _subordinate(conn, session_id)
    stopping: int | None = None
    removed: list[int] = []
    for job in await queue.unfinished(conn, session_id):
        if not job.running and await queue.remove(conn, job):
            removed.append(job.message_id)
            await events.append(conn, session_id, events.TURN_CANCELLED, {"reply_to": job.message_id, "reason": STOPPED})
        elif job.running and not await messages.answered(conn, job.message_id, job.generation):
            await conn.execute(insert(_stops).values(job_id=job.id).on_conflict_do_nothing())
            stopping = job.message_id
    return {"stopping": stopping, "removed": removed}


async def _subordinate(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any]:
    """Stop a subordinate chat's turn: it runs inside its top chat's job, so that job is asked to stop, with every turn under it.

    `stopping` is the subordinate's question while it has no answer; `removed` is always empty (a
    subordinate chat has no queue, and the top chat's queued turns are its own business).
    """
    row = (await conn.execute(_TREE, {"id": session_id})).one()
    if row.answered:
        return {"stopping": None, "removed": []}
    for job in await queue.unfinished(conn, row.top):
        if job.running:
            await conn.execute(insert(_stops).values(job_id=job.id).on_conflict_do_nothing())
            return {"stopping": row.question, "removed": []}
    return {"stopping": None, "removed": []}


# A subordinate chat's top chat (following parent_session_id up), its question and whether it has its answer.
_TREE = sa.text(
    """
    WITH RECURSIVE up AS (
        SELECT id, parent_session_id FROM chat_sessions WHERE id = :id
        UNION ALL
        SELECT c.id, c.parent_session_id FROM chat_sessions c JOIN up ON c.id = up.parent_session_id
    )
    SELECT (SELECT id FROM up WHERE parent_session_id IS NULL) AS top,
           asked.id AS question,
           EXISTS (SELECT FROM messages WHERE reply_to = asked.id) AS answered
      FROM messages AS asked
     WHERE asked.session_id = :id AND asked.role = 'user'
     ORDER BY asked.id
     LIMIT 1
    """
)


async def clear(conn: AsyncConnection, job_id: int | None) -> None:
    """Forget the job's stop request once its turn ended, in the transaction that ends it."""
    if job_id is not None:
        await conn.execute(sa.delete(_stops).where(_stops.c.job_id == job_id))


async def unless_stopped(
    answering: Coroutine[Any, Any, Any], signal: Signal, engine: AsyncEngine, job_id: int | None, session_id: uuid.UUID, top: bool = True
) -> bool:
    """Run `answering`; cancel it when the tree's `signal` is raised. True when it was stopped.

    The `top` turn raises the signal when its job is asked to stop or its chat is deleted; a
    subordinate turn only waits for it. Without a job id (a turn run outside the queue) nothing can
    stop it. What `answering` raises is raised here; being cancelled from outside cancels it too.
    """
    if job_id is None and top:
        await answering
        return False
    running = asyncio.create_task(answering)
    watching = asyncio.create_task(_watch(signal, engine, job_id, session_id) if top else signal.wait())
    try:
        await asyncio.wait({running, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (running, watching):
            task.cancel()  # a no-op on a task that is done
        await asyncio.gather(running, watching, return_exceptions=True)
    if running.cancelled():
        return True
    running.result()  # raises what the answering raised
    return False


async def _watch(signal: Signal, engine: AsyncEngine, job_id: int | None, session_id: uuid.UUID) -> None:
    assert job_id is not None
    await _wait(engine, job_id, session_id)
    signal.raise_()


async def _wait(engine: AsyncEngine, job_id: int, session_id: uuid.UUID) -> None:
    """Return once the job is asked to stop or its chat is gone; a failed check is tried again, never taken for a stop."""
    wanted = sa.select(
        sa.or_(
            sa.exists().where(_stops.c.job_id == job_id),
            ~sa.exists().where(_sessions.c.id == session_id),
        )
    )
    while True:
        await asyncio.sleep(POLL_SECONDS)  # first: the turn's start, when every millisecond shows, goes without it
        try:
            async with db_engine.autocommit(engine) as conn:
                if (await conn.execute(wanted)).scalar_one():
                    return
        except Exception as exc:  # the database down or the pool exhausted: the answer goes on, and we ask again
            log.debug("could not check for a stop of job %s: %s", job_id, exc)
