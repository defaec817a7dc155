"""The per-session event log: append-only but for the deltas of stored answers, ids that only grow, committed in id order."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables

# The NOTIFY channel of the event log (its trigger is in migration 0001); every gateway's notifier
# listens on it. Besides one payload per new event it carries the two that end every open stream,
# and the one that ends the streams of credentials that ended.
CHANNEL = "soma_session_events"
END_FOR_RESTORE = "restored"  # {"restored": <restore id>}: every chat was replaced, clients reload
END_FOR_LOCKDOWN = "lockdown"  # {"lockdown": true}: the emergency lockdown began
END_FOR_CREDENTIAL = "credentials_ended"  # {"credentials_ended": ["key:7", …], "reason": …}: see soma.auth.ending

MESSAGE_CREATED = "message.created"
TURN_STARTED = "turn.started"
ASSISTANT_DELTA = "assistant.delta"
ASSISTANT_MESSAGE = "assistant.message"
TURN_FAILED = "turn.failed"
TURN_CANCELLED = "turn.cancelled"  # a queued turn removed before it started ({"reply_to", "reason": "stopped"})
MESSAGE_UPDATED = "message.updated"  # the last user message was edited; its answer follows as a new version
SESSION_UPDATED = "session.updated"  # the chat was renamed ({"session"})
# A turn's tool calls (conversations/steps.py has their data), committed durably before the turn goes on:
TOOL_STARTED = "tool.started"  # a call began to run
TOOL_FINISHED = "tool.finished"  # a call ended: its result, or why there is none (denied, interrupted, stopped)
TOOL_APPROVAL = "tool.approval"  # a call waits for the user to allow it (POST /v1/sessions/{id}/approvals/{call_id})
# What a running call prints ({call_id, stream: "stdout"|"stderr", text}; run_code's output as it comes).
# Streamed, not committed durably: the call's whole result is in its tool.finished.
TOOL_OUTPUT = "tool.output"
TOOL_EVENTS = (TOOL_STARTED, TOOL_FINISHED, TOOL_APPROVAL)
# The delegate tool's subordinate turn, in the parent chat between its tool.started and tool.finished:
DELEGATE_STARTED = "delegate.started"  # {call_id, profile, session_id}: the child chat it runs in
DELEGATE_FINISHED = "delegate.finished"  # {call_id, session_id, ok}

# Bumping the session's counter row-locks the session until commit, so a reader that has
# seen event N can never later find an N-1 committing behind it.
APPEND_SQL = """
    WITH next AS (
        UPDATE chat_sessions SET last_event_id = last_event_id + 1
         WHERE id = :session_id
     RETURNING last_event_id
    )
    INSERT INTO session_events (session_id, id, type, data)
    SELECT :session_id, last_event_id, :type, CAST(:data AS jsonb) FROM next
    RETURNING id
    """
_APPEND = sa.text(APPEND_SQL)
# The same for a driver cursor (psycopg's named placeholders), where SQLAlchemy would cost more than the statement.
APPEND_DRIVER_SQL = APPEND_SQL.replace(":session_id", "%(session_id)s").replace(":type", "%(type)s").replace(":data", "%(data)s")


# Several events appended in one statement, in the order of the :events array of {"type", "data"}:
# one round trip, and one durable commit in autocommit, for a turn's tool steps (writer.EventWriter.commit).
# Written for a driver cursor (psycopg's named placeholders), as APPEND_DRIVER_SQL.
APPEND_MANY_DRIVER_SQL = """
    WITH items AS (
        SELECT item->>'type' AS type, item->'data' AS data, n FROM jsonb_array_elements(CAST(%(events)s AS jsonb)) WITH ORDINALITY AS e(item, n)
    ), next AS (
        UPDATE chat_sessions SET last_event_id = last_event_id + (SELECT count(*) FROM items)
         WHERE id = %(session_id)s
     RETURNING last_event_id - (SELECT count(*) FROM items) AS before
    )
    INSERT INTO session_events (session_id, id, type, data)
    SELECT %(session_id)s, next.before + items.n, items.type, items.data FROM next, items
    """


# Every delta written since the session's last `assistant.message`: the streamed text of the
# answer about to be stored, and that of failed or killed runs before it, which clients drop.
# Deleted in the statement that stores the answer (message_writes.STORE_FIRST), before its
# `assistant.message` is appended: a reader sees either every delta and no answer, or the answer
# and none of them, and a client that saw delta N and resumes after N gets the answer, whose id
# is above every delta's. The backward scan of the primary key stops at the last answer and the
# delete reads the key range after it, so both cost the turn's events, not the session's.
DELTAS_BEFORE_ANSWER = """
    session_id = :session_id AND type = 'assistant.delta'
    AND id > coalesce((SELECT max(id) FROM session_events WHERE session_id = :session_id AND type = 'assistant.message'), 0)
    """

# The same for every session at once, for logs written before answers dropped their own deltas
# (a backup made before migration 0010, restored): every delta with a later answer in its session.
_COMPACT_EVERY_SESSION = sa.text(
    """
    DELETE FROM session_events e
     USING (SELECT session_id, max(id) AS last_answer FROM session_events
             WHERE type = 'assistant.message' GROUP BY session_id) a
     WHERE e.session_id = a.session_id AND e.id < a.last_answer AND e.type = 'assistant.delta'
    """
)


@dataclass(frozen=True)
class Event:
    """One entry of a session's event log."""

    id: int
    type: str
    data: dict[str, Any]
    created_at: datetime | None  # None when the event came by NOTIFY, which does not carry it


async def append(conn: AsyncConnection, session_id: uuid.UUID, type_: str, data: dict[str, Any]) -> int | None:
    """Append an event in the caller's transaction; returns its id, or None when the chat was deleted (mid-turn)."""
    result = await conn.execute(_APPEND, {"session_id": session_id, "type": type_, "data": json.dumps(data)})
    return result.scalar_one_or_none()


async def compact_every_session(conn: AsyncConnection) -> int:
    """Delete, in every session, the deltas of answers already stored; returns how many (see migration 0010)."""
    return (await conn.execute(_COMPACT_EVERY_SESSION)).rowcount


async def after(conn: AsyncConnection, session_id: uuid.UUID, after_id: int, limit: int = 500) -> list[Event]:
    """Events of a session with ids above after_id, oldest first."""
    t = tables.session_events
    rows = await conn.execute(
        sa.select(t.c.id, t.c.type, t.c.data, t.c.created_at)
        .where(t.c.session_id == session_id, t.c.id > after_id)
        .order_by(t.c.id)
        .limit(limit)
    )
    return [Event(r.id, r.type, r.data, r.created_at) for r in rows]


async def end_every_stream(conn: AsyncConnection, reason: str, value: object) -> None:
    """Tell every gateway to end every open stream (`reason`: END_FOR_RESTORE or END_FOR_LOCKDOWN), at commit."""
    await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, json.dumps({reason: value}))))


async def end_streams_of(conn: AsyncConnection, credentials: list[str], reason: str) -> None:
    """Tell every gateway to end the open streams of these credentials (named by soma.auth.ending), at commit."""
    payload = json.dumps({END_FOR_CREDENTIAL: credentials, "reason": reason})
    await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))
