"""Chat sessions: create, list, find."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables

DEFAULT_TITLE = "New chat"
TITLE_CHARS = 80  # a title longer than this is cut when derived from the first message

_t = tables.chat_sessions
_COLUMNS = (_t.c.id, _t.c.title, _t.c.created_at, _t.c.updated_at, _t.c.last_event_id)


def as_dict(row: Any) -> dict[str, Any]:
    """A session as the API shows it."""
    return {
        "id": str(row.id),
        "title": row.title,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "last_event_id": row.last_event_id,
    }


async def create(conn: AsyncConnection, title: str | None, owner: str | None = None) -> dict[str, Any]:
    """A new, empty session belonging to `owner`."""
    row = (await conn.execute(sa.insert(_t).values(title=title or DEFAULT_TITLE, owner=owner).returning(*_COLUMNS))).one()
    return as_dict(row)


async def list_recent(conn: AsyncConnection, limit: int = 100, owner: str | None = None) -> list[dict[str, Any]]:
    """Sessions, most recently active first; only `owner`'s when given."""
    query = sa.select(*_COLUMNS).order_by(_t.c.updated_at.desc()).limit(limit)
    if owner is not None:
        query = query.where(_t.c.owner == owner)
    return [as_dict(r) for r in await conn.execute(query)]


async def get(conn: AsyncConnection, session_id: uuid.UUID, *, lock: bool = False, owner: str | None = None) -> dict[str, Any]:
    """One session; SessionNotFound when it does not exist or, with `owner`, belongs to someone else.

    Someone else's chat is "not found" rather than "forbidden", so ids cannot be probed.
    """
    query = sa.select(*_COLUMNS).where(_t.c.id == session_id)
    if owner is not None:
        query = query.where(_t.c.owner == owner)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise errors.SessionNotFound(f"Session '{session_id}' does not exist.")
    return as_dict(row)


async def touch(conn: AsyncConnection, session_id: uuid.UUID, first_message: str | None = None) -> None:
    """Mark the session active; a default title becomes the start of its first message."""
    values: dict[str, Any] = {"updated_at": sa.func.now()}
    if first_message is not None:
        values["title"] = sa.case(
            (_t.c.title == DEFAULT_TITLE, _title_from(first_message)), else_=_t.c.title
        )
    await conn.execute(sa.update(_t).where(_t.c.id == session_id).values(**values))


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"
