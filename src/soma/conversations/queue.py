"""A session's turn jobs in procrastinate: queued inside the caller's transaction (no dual write), found, removed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import jobs
from soma.observability import context

QUEUE = "turns"
TASK_NAME = "soma.turn"

# A session's unfinished turn jobs, oldest first, row-locked until commit: a worker fetching jobs
# skips locked rows, so a queued turn found here cannot start while the caller removes it.
_UNFINISHED = sa.text(
    """
    SELECT id, status::text AS status, args FROM procrastinate_jobs
     WHERE lock = :lock AND task_name = :task AND status IN ('todo', 'doing')
     ORDER BY id
       FOR UPDATE
    """
)
_REMOVE = sa.text("SELECT procrastinate_cancel_job_v1(:id, false, true)")  # deletes the job if it is still 'todo'


@dataclass(frozen=True)
class TurnJob:
    """An unfinished turn job: `generation` is the version of the answer it writes (1 for the first)."""

    id: int
    running: bool
    message_id: int
    generation: int


def session_lock(session_id: uuid.UUID | str) -> str:
    """The procrastinate lock that runs one session's turns one at a time, in order."""
    return f"session:{session_id}"


async def enqueue_turn(conn: AsyncConnection, session_id: uuid.UUID, message_id: int, generation: int = 1) -> int:
    """Queue the turn that answers a user message (`generation` > 1: answers it again); returns the job id."""
    args = turn_args(session_id, generation) | {"message_id": message_id}
    return await jobs.defer(conn, QUEUE, TASK_NAME, args, lock=session_lock(session_id))


def turn_args(session_id: uuid.UUID, generation: int = 1) -> dict[str, object]:
    """A turn job's arguments but the message id.

    The request id of the HTTP request that posted the message goes along, so the worker's log lines
    for the turn carry it too.
    """
    args: dict[str, object] = {"session_id": str(session_id)}
    if generation > 1:
        args["generation"] = generation
    if (request_id := context.request_id.get()) is not None:
        args["request_id"] = request_id
    return args


async def unfinished(conn: AsyncConnection, session_id: uuid.UUID) -> list[TurnJob]:
    """The session's queued and running turns, oldest first, locked until the caller's transaction ends."""
    rows = await conn.execute(_UNFINISHED, {"lock": session_lock(session_id), "task": TASK_NAME})
    return [TurnJob(r.id, r.status == "doing", r.args["message_id"], r.args.get("generation", 1)) for r in rows]


async def remove(conn: AsyncConnection, job: TurnJob) -> bool:
    """Delete a queued turn job before it starts; False when it is running."""
    return (await conn.execute(_REMOVE, {"id": job.id})).scalar_one() is not None
