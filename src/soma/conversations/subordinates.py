"""Subordinate turns: the child chat a `delegate` call makes, and its turn, run inside the parent's.

A call's child chat (chat_sessions.parent_session_id, parent_call_id, depth) is made with its user
message, the task, in one statement, and queues no job: the child's turn runs inline, in the
parent's turn (same worker, same job), through the `answer` function the parent's turn.run hands
in. So the child needs no lock of its own, the parent's stop reaches it (`Tree.signal`) and a crash
of the parent's worker ends it too.

The turns of a tree share a `Tree`: the step budget (tool_loop.Budget) and the stop. After a crash
the parent's turn runs again, and with it the delegate call, which is repeatable: the child is found
by (parent_session_id, parent_call_id), unique, so none is made twice. A child whose answer is
stored is not run again, its answer is the result; one that had not finished resumes its own turn,
after its own last finished tool step.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.conversations import events, message_shape, sessions, stops, tool_loop
from soma.db import engine as db_engine
from soma.tools import delegate
from soma.tools.registry import CallContext, ToolResult

NO_STEPS_LEFT = ToolResult(
    False,
    "No SLM requests are left for a subordinate in this turn's budget (the max_tool_steps setting bounds the user's "
    "turn and every subordinate turn under it together). Nothing was delegated; answer with what you have.",
    "no_steps_left",
)  # fmt: skip


@dataclass(frozen=True)
class Tree:
    """What the turns of one delegation tree share: the SLM requests left, and the stop of its top turn."""

    budget: tool_loop.Budget
    signal: stops.Signal


# Answers a child chat's user message inside the tree, as turn.run does; returns turn.run's outcome.
Answer = Callable[[int, Tree], Awaitable[str]]


@dataclass(frozen=True)
class _Child:
    session_id: uuid.UUID
    question: int  # its user message: the task
    answer: str | None  # its final answer, once stored
    stopped: bool  # that answer was cut short by a stop


class Subordinates:
    """The child chats of one turn's `delegate` calls (tools.delegate.Subordinates)."""

    def __init__(self, engine: AsyncEngine, parent: uuid.UUID, tree: Tree, answer: Answer) -> None:
        self._engine = engine
        self._parent = parent
        self._tree = tree
        self._answer = answer

    async def run(self, profile: str, task: str, context: CallContext) -> delegate.Outcome | ToolResult:
        """Find or make the call's child chat and have it answered; its outcome, or NO_STEPS_LEFT when the budget is spent."""
        child = await self._find(context.call_id)
        if child is not None and child.answer is not None:  # answered before the parent's worker died: not run again
            return self._finished(context, child)
        if not self._tree.budget.take():  # the child's first request
            return NO_STEPS_LEFT
        if child is None:
            child = await self._make(context.call_id, profile, task)
        context.event(events.DELEGATE_STARTED, {"call_id": context.call_id, "profile": profile, "session_id": str(child.session_id)})
        await self._inline(child, context)
        return self._finished(context, await self._find(context.call_id) or child)

    async def _inline(self, child: _Child, context: CallContext) -> None:
        """Run the child's turn in this task's place, so that a stop of the tree lets it store its partial answer first.

        A stop cancels the parent's turn at the same moment as the child's (both wait on the tree's
        signal): this call then waits for the child, which keeps what it wrote, marked stopped. Any
        other cancellation (a lockdown, the worker going away) cancels the child with it.
        """
        running = asyncio.create_task(self._answer(child.question, self._tree))
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            if not self._tree.signal.raised:
                running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            if self._tree.signal.raised:
                context.event(events.DELEGATE_FINISHED, {"call_id": context.call_id, "session_id": str(child.session_id), "ok": False})
            raise

    def _finished(self, context: CallContext, child: _Child) -> delegate.Outcome:
        ok = child.answer is not None and not child.stopped
        context.event(events.DELEGATE_FINISHED, {"call_id": context.call_id, "session_id": str(child.session_id), "ok": ok})
        return delegate.Outcome(child.session_id, child.answer, ok)

    async def _find(self, call_id: str) -> _Child | None:
        async with db_engine.autocommit(self._engine) as conn:
            row = (await conn.execute(_FIND, {"parent": self._parent, "call_id": call_id})).one_or_none()
        return None if row is None else _Child(row.id, row.question, row.answer, bool(row.stopped))

    async def _make(self, call_id: str, profile: str, task: str) -> _Child:
        params: dict[str, Any] = {
            "parent": self._parent, "call_id": call_id, "profile": profile, "task": task, "title": sessions.title_from(task),
        }  # fmt: skip
        async with db_engine.autocommit(self._engine) as conn:  # one statement: the chat, its question and its event, or none
            await conn.execute(_MAKE, params)
        made = await self._find(call_id)  # also when a run of this call racing this one made it first
        if made is None:
            raise sessions.not_found(self._parent)  # the parent chat was deleted meanwhile: the turn stops
        return made


# The child chat of a call (at most one: unique (parent_session_id, parent_call_id)), its question and its answer.
_FIND = sa.text(
    """
    SELECT child.id, asked.id AS question, answer.content AS answer, answer.meta->'stopped' AS stopped
      FROM chat_sessions AS child
      JOIN messages AS asked ON asked.session_id = child.id AND asked.role = 'user'
      LEFT JOIN messages AS answer ON answer.reply_to = asked.id
     WHERE child.parent_session_id = :parent AND child.parent_call_id = :call_id
     ORDER BY asked.id
     LIMIT 1
    """
)

# The child chat (the parent's owner, one level deeper), its question and its `message.created`, in one
# statement; nothing when the call has its child already or the parent is gone.
_MAKE = sa.text(
    f"""
    WITH chat AS (
        INSERT INTO chat_sessions (title, owner, profile, parent_session_id, parent_call_id, depth, last_event_id)
        SELECT :title, owner, :profile, id, :call_id, depth + 1, 1 FROM chat_sessions WHERE id = :parent
            ON CONFLICT (parent_session_id, parent_call_id) DO NOTHING
     RETURNING id
    ), asked AS (
        INSERT INTO messages (session_id, role, content) SELECT id, 'user', :task FROM chat
     RETURNING session_id, {message_shape.json_of()} AS message
    )
    INSERT INTO session_events (session_id, id, type, data)
    SELECT session_id, 1, '{events.MESSAGE_CREATED}', jsonb_build_object('message', message) FROM asked
    """
)


_UNFINISHED_BELOW = sa.text(
    f"""
    WITH RECURSIVE below AS (
        SELECT id FROM chat_sessions WHERE parent_session_id = :session_id
        UNION ALL
        SELECT c.id FROM chat_sessions AS c JOIN below ON c.parent_session_id = below.id
    )
    SELECT m.id, m.session_id FROM messages AS m JOIN below ON m.session_id = below.id
     WHERE m.role = 'user'
       AND NOT EXISTS (SELECT FROM messages AS a WHERE a.reply_to = m.id)
       AND NOT EXISTS (SELECT FROM session_events AS e
                        WHERE e.session_id = m.session_id AND e.type = '{events.TURN_FAILED}' AND e.data->'reply_to' = to_jsonb(m.id))
     ORDER BY m.id
    """
)


async def unfinished_below(conn: AsyncConnection, session_id: uuid.UUID) -> list[tuple[int, uuid.UUID]]:
    """(question id, chat id) of each subordinate turn below the chat, at any depth, with neither an answer nor a turn.failed.

    Those are the turns still running when their top turn was cut off from outside (the lockdown).
    """
    return [(row.id, row.session_id) for row in await conn.execute(_UNFINISHED_BELOW, {"session_id": session_id})]
