"""Asking the user before a tool runs: the waiting turn (any worker) and the answer (any gateway), met in PostgreSQL.

A call of a tool set to `ask` appends `tool.approval` and polls its `tool_approvals` row every
POLL_SECONDS, as a running turn polls for a stop (stops.py): no NOTIFY to miss, any number of
gateways and workers. The answer is a row keyed by (session, call id), inserted once: the first
decision wins. A turn that waits in vain inserts the row itself, as a denial by TIMED_OUT, so an
answer racing the timeout either comes first and counts or finds the call decided (409). A worker
that resumes the turn finds the row and honours it without asking again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.conversations import events, sessions
from soma.db import engine as db_engine
from soma.db import tables

POLL_SECONDS = 0.5  # an answer reaches the waiting call within this
TIMED_OUT = "soma:timeout"  # `decided_by` of a denial the turn recorded when no one answered in time

Outcome = Literal["allowed", "denied", "timed_out"]
_a = tables.tool_approvals


@dataclass(frozen=True)
class Decision:
    """How a call's approval ended, and who ended it (TIMED_OUT when no one did)."""

    allow: bool
    decided_by: str | None

    @property
    def outcome(self) -> Outcome:
        if self.allow:
            return "allowed"
        return "timed_out" if self.decided_by == TIMED_OUT else "denied"


async def wait(engine: AsyncEngine, session_id: uuid.UUID, call_id: str, timeout_seconds: float) -> Decision:
    """The user's answer to the call's approval, once there is one; a denial by TIMED_OUT after `timeout_seconds`.

    It looks at once (a resumed turn finds an answer given meanwhile), then every POLL_SECONDS.
    """
    deadline = time.monotonic() + timeout_seconds
    query = sa.select(_a.c.allow, _a.c.decided_by).where(_a.c.session_id == session_id, _a.c.call_id == call_id)
    while True:
        async with db_engine.autocommit(engine) as conn:
            row = (await conn.execute(query)).one_or_none()
            if row is None and time.monotonic() >= deadline:
                row = await _record(conn, session_id, call_id, False, TIMED_OUT) or (await conn.execute(query)).one()
        if row is not None:
            return Decision(row.allow, row.decided_by)
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


async def decide(conn: AsyncConnection, session_id: uuid.UUID, call_id: str, allow: bool, actor: str, owner: str | None) -> dict[str, Any]:
    """Allow or deny a call waiting for approval in the chat; returns the call's `tool.approval` data.

    SessionNotFound for a chat that does not exist or is someone else's; ApprovalDecided when it
    was answered already (or timed out); ApprovalNotWaiting when no call of the chat's running turn
    waits under that id. The session's row lock orders this against the turn's own events.
    """
    await sessions.get(conn, session_id, lock=True, owner=owner)
    decided = (await conn.execute(sa.select(_a.c.decided_by).where(_a.c.session_id == session_id, _a.c.call_id == call_id))).first()
    if decided is not None:
        raise errors.ApprovalDecided(f"Tool call '{call_id}' was {'timed out' if decided.decided_by == TIMED_OUT else 'decided'} already.")
    waiting = (await conn.execute(_WAITING, {"session_id": session_id, "call_id": call_id})).scalar_one_or_none()
    if waiting is None:
        raise errors.ApprovalNotWaiting(f"No tool call '{call_id}' of this chat waits for approval.")
    await _record(conn, session_id, call_id, allow, actor)
    return waiting


async def _record(conn: AsyncConnection, session_id: uuid.UUID, call_id: str, allow: bool, decided_by: str) -> Any:
    """Insert the decision unless one exists; the row inserted, or None."""
    statement = (
        insert(_a).values(session_id=session_id, call_id=call_id, allow=allow, decided_by=decided_by)
        .on_conflict_do_nothing().returning(_a.c.allow, _a.c.decided_by)
    )  # fmt: skip
    return (await conn.execute(statement)).one_or_none()


# The `tool.approval` of a call still waiting: in the chat's running turn (after its last answer),
# with no tool.started or tool.finished of that call after it, and no turn.failed (a lockdown
# ended the turn). The backward scan of the primary key stops at the last answer.
_WAITING = sa.text(
    f"""
    WITH recent AS (
        SELECT id, type, data FROM session_events
         WHERE session_id = :session_id
           AND id > coalesce((SELECT max(id) FROM session_events WHERE session_id = :session_id AND type = '{events.ASSISTANT_MESSAGE}'), 0)
           AND type IN ('{events.TOOL_APPROVAL}', '{events.TOOL_STARTED}', '{events.TOOL_FINISHED}', '{events.TURN_FAILED}')
    )
    SELECT asked.data FROM recent AS asked
     WHERE asked.type = '{events.TOOL_APPROVAL}' AND asked.data->>'call_id' = :call_id
       AND NOT EXISTS (SELECT FROM recent AS later WHERE later.id > asked.id
                          AND (later.type = '{events.TURN_FAILED}' OR later.data->>'call_id' = :call_id))
    """
)
