"""Messages of a session: the user's, stored with their turn job, and the assistant's, stored once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.conversations import events, message_shape, message_writes, queue, sessions
from soma.db import tables
from soma.settings import store as settings_store
from soma.workspaces import attachments
from soma.workspaces import store as workspace_store

_m = tables.messages
_SHOWN = message_shape.column()  # the message as the API and the event log show it


async def post_user_message(
    conn: AsyncConnection, session_id: uuid.UUID, content: str, owner: str | None = None, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Store a user message, its `message.created` event and its turn job in one statement: the caller's transaction, or its own.

    One statement is one round trip, and in autocommit its own durable transaction: the gateway's
    share of a turn's time to first token was mostly the round trips of doing this in five.
    """
    params = {
        "session_id": session_id, "owner": owner, "content": content, "meta": json.dumps(meta or {}),
        "default_title": sessions.DEFAULT_TITLE, "title": sessions.title_from(content or _file_names(meta)),
        "queue": queue.QUEUE, "task": queue.TASK_NAME, "lock": queue.session_lock(session_id),
        "args": json.dumps(queue.turn_args(session_id)),
    }  # fmt: skip
    row = (await conn.execute(message_writes.POST, params)).one()
    if not row.gate_open:
        raise errors.RestoreInProgress()
    if row.message is None:
        sessions.writable(await sessions.get(conn, session_id, owner=owner))  # SubordinateChat, else SessionNotFound below
        raise sessions.not_found(session_id)
    return row.message


async def post_with_files(
    conn: AsyncConnection,
    session_id: uuid.UUID,
    content: str,
    files: list[attachments.Attached],
    described: list[dict[str, Any]],
    owner: str | None = None,
) -> dict[str, Any]:
    """post_user_message with the files the message carries, in the caller's transaction: all of it commits, or none.

    `described` is what attachments.prepare said of the files (checked against the limits, with
    the text the turn reads), made before the caller took its connection: it becomes the message's
    `meta.attachments`. The files land in the chat's workspace within `workspace_max_mb` (else
    WorkspaceFull). The turn's job is queued with the message, so it sees them the moment it can run.
    """
    message = await post_user_message(conn, session_id, content, owner, {"attachments": described})
    quota = workspace_store.max_bytes(await settings_store.load(conn))
    await workspace_store.apply(conn, session_id, [(file.path, file.data) for file in files], [], quota)
    return message


def _file_names(meta: dict[str, Any] | None) -> str:
    """The names of the files a message without words carries: its chat's title then."""
    return ", ".join(file["path"] for file in (meta or {}).get("attachments", []))


async def list_for_session(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> list[dict[str, Any]]:
    """Every message of a session, oldest first."""
    await sessions.get(conn, session_id, owner=owner)
    return list((await conn.execute(sa.select(_SHOWN).where(_m.c.session_id == session_id).order_by(_m.c.id))).scalars())


async def get(conn: AsyncConnection, message_id: int) -> dict[str, Any] | None:
    """One message, or None when it is gone (its session was deleted)."""
    return (await conn.execute(sa.select(_SHOWN).where(_m.c.id == message_id))).scalar_one_or_none()


async def answers(conn: AsyncConnection, user_message_id: int) -> int:
    """How many answers this user message has had: 0, or 1 plus the earlier versions of its answer."""
    query = sa.select(sa.func.jsonb_array_length(_m.c.versions)).where(_m.c.reply_to == user_message_id)
    earlier = (await conn.execute(query)).scalar_one_or_none()
    return 0 if earlier is None else earlier + 1


async def answered(conn: AsyncConnection, user_message_id: int, generation: int = 1) -> bool:
    """True when the user message already has its `generation`-th answer (a turn run twice answers once)."""
    return await answers(conn, user_message_id) >= generation


async def store_reply(
    conn: AsyncConnection, session_id: uuid.UUID, user_message_id: int, content: str, meta: dict[str, Any], generation: int = 1
) -> dict[str, Any] | None:
    """Store the `generation`-th answer and its event, dropping its deltas; None when it was stored already (a turn run twice) or the chat is gone.

    A later generation replaces the answer in place and keeps the one before in `versions`, so the
    answer's id stays and the history sent to the SLM holds only current versions. One statement:
    in autocommit, its own durable transaction.
    """
    statement = message_writes.STORE_FIRST if generation == 1 else message_writes.STORE_AGAIN
    params = {"session_id": session_id, "reply_to": user_message_id, "content": content, "meta": json.dumps(meta),
              "earlier": generation - 2}  # fmt: skip
    row = (await conn.execute(statement, params)).one_or_none()
    return row.message if row else None


def with_current_version() -> sa.ColumnElement[Any]:
    """The row's `versions` with its content, meta and time appended: for an UPDATE that replaces them."""
    return sa.literal_column(message_writes.WITH_CURRENT_VERSION)


async def last_user_message(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any] | None:
    """The session's latest user message, or None in an empty chat."""
    query = sa.select(_SHOWN).where(_m.c.session_id == session_id, _m.c.role == "user").order_by(_m.c.id.desc()).limit(1)
    return (await conn.execute(query)).scalar_one_or_none()


async def revise(conn: AsyncConnection, message_id: int, content: str) -> dict[str, Any]:
    """Replace a user message's content, keeping what it said in `versions`; its `message.updated` event too."""
    row = (
        await conn.execute(
            sa.update(_m)
            .where(_m.c.id == message_id)
            .values(versions=with_current_version(), content=content, created_at=sa.func.now())
            .returning(_m.c.session_id, _SHOWN)
        )
    ).one()
    message = row.message
    await events.append(conn, row.session_id, events.MESSAGE_UPDATED, {"message": message})
    return message
