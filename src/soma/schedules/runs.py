"""The task_runs table as the API shows it: a task's history, newest first, its latest run, and the unread mark."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables

HISTORY = 200  # runs GET /v1/tasks/{id}/runs shows, newest first
_r = tables.task_runs
_COLUMNS = (
    _r.c.id, _r.c.task_id, _r.c.due_at, _r.c.started_at, _r.c.finished_at, _r.c.outcome, _r.c.session_id, _r.c.late,
    _r.c.manual, _r.c.reason, _r.c.webhook, _r.c.read_at,
)  # fmt: skip


def iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def as_dict(row: Any) -> dict[str, Any]:
    """A run as the API shows it; `read` is true while it runs (nothing to read yet)."""
    return {
        "id": row.id, "due_at": iso(row.due_at), "started_at": iso(row.started_at), "finished_at": iso(row.finished_at),
        "outcome": row.outcome, "session_id": text(row.session_id), "late": row.late, "manual": row.manual, "reason": row.reason,
        "webhook": row.webhook, "read": row.outcome == "running" or row.read_at is not None,
    }  # fmt: skip


async def history(conn: AsyncConnection, task_id: uuid.UUID) -> list[dict[str, Any]]:
    """The task's latest HISTORY runs, newest first."""
    query = sa.select(*_COLUMNS).where(_r.c.task_id == task_id).order_by(_r.c.id.desc()).limit(HISTORY)
    return [as_dict(row) for row in await conn.execute(query)]


async def get(conn: AsyncConnection, run_id: int) -> dict[str, Any]:
    """One run."""
    return as_dict((await conn.execute(sa.select(*_COLUMNS).where(_r.c.id == run_id))).one())


async def latest(conn: AsyncConnection, task_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each task's newest run, by task id (a task that never ran is left out)."""
    if not task_ids:
        return {}
    query = (
        sa.select(*_COLUMNS)
        .ext(postgresql.distinct_on(_r.c.task_id))
        .where(_r.c.task_id.in_(task_ids))
        .order_by(_r.c.task_id, _r.c.id.desc())
    )
    return {row.task_id: as_dict(row) for row in await conn.execute(query)}


async def mark_read(conn: AsyncConnection, task_id: uuid.UUID) -> int:
    """Mark the task's finished runs read; how many were unread."""
    statement = (
        sa.update(_r)
        .where(_r.c.task_id == task_id, _r.c.outcome != "running", _r.c.read_at.is_(None))
        .values(read_at=sa.func.now())
    )
    return (await conn.execute(statement)).rowcount
