"""Enqueueing a turn as a procrastinate job inside the caller's transaction: no dual write."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

QUEUE = "turns"
TASK_NAME = "soma.turn"

# procrastinate's own defer function, called in our transaction so the message and its job
# commit together; procrastinate's trigger then NOTIFYs the workers.
_DEFER = sa.text(
    """
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[
        ROW(:queue, :task, 0, :lock, NULL, CAST(:args AS jsonb), NULL)
    ]::procrastinate_job_to_defer_v1[])) AS id
    """
)


def session_lock(session_id: uuid.UUID | str) -> str:
    """The procrastinate lock that runs one session's turns one at a time, in order."""
    return f"session:{session_id}"


async def enqueue_turn(conn: AsyncConnection, session_id: uuid.UUID, message_id: int) -> int:
    """Queue the turn that answers a user message; returns the job id."""
    args = json.dumps({"session_id": str(session_id), "message_id": message_id})
    result = await conn.execute(
        _DEFER, {"queue": QUEUE, "task": TASK_NAME, "lock": session_lock(session_id), "args": args}
    )
    return result.scalar_one()
