"""Messages of a session: the user's, stored with their turn job, and the assistant's, stored once."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import events, queue, sessions
from soma.db import tables

_m = tables.messages
_COLUMNS = (_m.c.id, _m.c.session_id, _m.c.role, _m.c.content, _m.c.reply_to, _m.c.meta, _m.c.created_at)


def as_dict(row: Any) -> dict[str, Any]:
    """A message as the API and the event log show it."""
    return {
        "id": row.id,
        "session_id": str(row.session_id),
        "role": row.role,
        "content": row.content,
        "reply_to": row.reply_to,
        "meta": row.meta,
        "citations": row.meta.get("citations", []),
        "created_at": row.created_at.isoformat(),
    }


async def post_user_message(conn: AsyncConnection, session_id: uuid.UUID, content: str, owner: str | None = None) -> dict[str, Any]:
    """Store a user message, its `message.created` event and its turn job, all in the caller's transaction."""
    # Locking the session keeps its messages in the order their events were written.
    session = await sessions.get(conn, session_id, lock=True, owner=owner)
    first = session["last_event_id"] == 0
    row = (
        await conn.execute(sa.insert(_m).values(session_id=session_id, role="user", content=content).returning(*_COLUMNS))
    ).one()
    message = as_dict(row)
    await events.append(conn, session_id, events.MESSAGE_CREATED, {"message": message})
    await queue.enqueue_turn(conn, session_id, row.id)
    await sessions.touch(conn, session_id, content if first else None)
    return message


async def list_for_session(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> list[dict[str, Any]]:
    """Every message of a session, oldest first."""
    await sessions.get(conn, session_id, owner=owner)
    rows = await conn.execute(sa.select(*_COLUMNS).where(_m.c.session_id == session_id).order_by(_m.c.id))
    return [as_dict(r) for r in rows]


async def get(conn: AsyncConnection, message_id: int) -> dict[str, Any] | None:
    """One message, or None when it is gone (its session was deleted)."""
    row = (await conn.execute(sa.select(*_COLUMNS).where(_m.c.id == message_id))).one_or_none()
    return as_dict(row) if row else None


async def reply_exists(conn: AsyncConnection, user_message_id: int) -> bool:
    """True when the assistant already answered this user message."""
    query = sa.select(sa.literal(1)).where(_m.c.reply_to == user_message_id)
    return (await conn.execute(query)).first() is not None


async def history(conn: AsyncConnection, session_id: uuid.UUID, up_to: int, limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages of the conversation up to user message `up_to`, oldest first.

    Conversation order puts each answer right after its question, even when the user sent
    the next message before the answer was written.
    """
    turn = sa.func.coalesce(_m.c.reply_to, _m.c.id)
    rows = await conn.execute(
        sa.select(*_COLUMNS)
        .where(_m.c.session_id == session_id, turn <= up_to)
        .order_by(turn.desc(), _m.c.role)  # newest first; reversed below, so a question precedes its answer
        .limit(limit)
    )
    return [as_dict(r) for r in reversed(rows.all())]


async def store_reply(
    conn: AsyncConnection, session_id: uuid.UUID, user_message_id: int, content: str, meta: dict[str, Any]
) -> dict[str, Any] | None:
    """Store the assistant's answer and its event; None when the message already had one (a turn run twice)."""
    row = (
        await conn.execute(
            insert(_m)
            .values(session_id=session_id, role="assistant", content=content, reply_to=user_message_id, meta=meta)
            .on_conflict_do_nothing(index_elements=[_m.c.reply_to])
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is None:
        return None
    message = as_dict(row)
    await events.append(conn, session_id, events.ASSISTANT_MESSAGE, {"message": message})
    await sessions.touch(conn, session_id)
    return message
