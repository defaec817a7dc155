"""Enqueueing a turn as a procrastinate job inside the caller's transaction: no dual write."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import jobs
from soma.observability import context

QUEUE = "turns"
TASK_NAME = "soma.turn"


def session_lock(session_id: uuid.UUID | str) -> str:
    """The procrastinate lock that runs one session's turns one at a time, in order."""
    return f"session:{session_id}"


async def enqueue_turn(conn: AsyncConnection, session_id: uuid.UUID, message_id: int) -> int:
    """Queue the turn that answers a user message; returns the job id.

    The request id of the HTTP request that posted the message goes along, so the worker's log lines
    for the turn carry it too.
    """
    args: dict[str, object] = {"session_id": str(session_id), "message_id": message_id}
    if (request_id := context.request_id.get()) is not None:
        args["request_id"] = request_id
    return await jobs.defer(conn, QUEUE, TASK_NAME, args, lock=session_lock(session_id))
