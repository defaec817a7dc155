"""Deferring procrastinate jobs inside the caller's transaction: the job commits with the rows it is about."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


def defer_one(args: str) -> str:
    """procrastinate's own defer function for one job, as an SQL expression yielding its id; `args` is the SQL of its arguments.

    Called in our transaction (or statement), a row and its job commit together (no dual write);
    procrastinate's trigger then NOTIFYs the workers. Parameters: :queue, :task, :lock.
    """
    return (
        "unnest(procrastinate_defer_jobs_v1(ARRAY["
        f"ROW(:queue, :task, 0, :lock, NULL, {args}, NULL)]::procrastinate_job_to_defer_v1[]))"
    )


_DEFER = sa.text(f"SELECT {defer_one('CAST(:args AS jsonb)')} AS id")


async def defer(conn: AsyncConnection, queue: str, task: str, args: dict[str, Any], lock: str | None = None) -> int:
    """Queue task(**args) on queue, in the caller's transaction; returns the job id.

    Jobs sharing a lock run one at a time, in the order they were deferred.
    """
    result = await conn.execute(_DEFER, {"queue": queue, "task": task, "lock": lock, "args": json.dumps(args)})
    return result.scalar_one()
