"""The tool calls behind each stored answer, read back from the session's event log.

A turn records each call as `tool.started` and `tool.finished` events carrying the user message
it answers (`reply_to`) and the call's `call_id`; the log keeps them after the answer is stored
(only deltas are dropped). One run of a turn lasts from a `turn.started` that follows a settled
turn (answered, failed or cancelled) to its `assistant.message`: a run restarted mid-way (a
retried SLM request, a worker that died) keeps its calls, and a call recorded twice is one step.
The runs that ended in an answer are that answer's versions, oldest first. The web UI reads the
log the same way (web/static/transcript.js).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import events
from soma.db import tables

_READ = (events.TURN_STARTED, events.TOOL_STARTED, events.TOOL_FINISHED, events.ASSISTANT_MESSAGE, events.TURN_FAILED, events.TURN_CANCELLED)
_DESCRIBED_BY_ANY_EVENT = ("name", "server", "arguments")


async def by_answer(conn: AsyncConnection, session_id: uuid.UUID) -> dict[int, list[list[dict[str, Any]]]]:
    """For each answered user message (by id), the steps behind each version of its answer, oldest version first."""
    t = tables.session_events
    rows = await conn.execute(
        sa.select(t.c.type, t.c.data).where(t.c.session_id == session_id, t.c.type.in_(_READ)).order_by(t.c.id)
    )
    return group((row.type, row.data) for row in rows)


def group(logged: Iterable[tuple[str, dict[str, Any]]]) -> dict[int, list[list[dict[str, Any]]]]:
    """by_answer's grouping of (type, data) events, oldest first.

    A step is {call_id, name, server, arguments, ok, result, error, duration_ms}; `ok` and the rest
    of what `tool.finished` says stay None for a call that never finished.
    """
    runs: dict[int, dict[str, dict[str, Any]]] = {}  # reply_to → call_id → step, of the run in progress
    ended: dict[int, str] = {}  # reply_to → how its last run ended: "answered" or "stopped" (failed, cancelled)
    answers: dict[int, list[list[dict[str, Any]]]] = {}
    for type_, data in logged:
        reply_to = data.get("message", {}).get("reply_to") if type_ == events.ASSISTANT_MESSAGE else data.get("reply_to")
        if not isinstance(reply_to, int):
            continue
        if type_ == events.TURN_STARTED:
            if ended.get(reply_to) == "answered" and data.get("attempt") != 1:
                continue  # a late retry of the answer it already has
            if ended.pop(reply_to, None) is not None:
                runs.pop(reply_to, None)  # a new run: the calls of the one before belong to it
        elif type_ in (events.TOOL_STARTED, events.TOOL_FINISHED):
            _record(runs.setdefault(reply_to, {}), type_, data)
        elif type_ == events.ASSISTANT_MESSAGE:
            answers.setdefault(reply_to, []).append(list(runs.pop(reply_to, {}).values()))
            ended[reply_to] = "answered"
        else:
            ended[reply_to] = "stopped"
    return answers


def _record(steps: dict[str, dict[str, Any]], type_: str, data: dict[str, Any]) -> None:
    if data.get("call_id") is None:
        return
    call_id = str(data["call_id"])
    step = steps.setdefault(
        call_id,
        {"call_id": call_id, "name": None, "server": None, "arguments": None, "ok": None, "result": None, "error": None, "duration_ms": None},
    )
    step.update({key: data[key] for key in _DESCRIBED_BY_ANY_EVENT if key in data})
    if type_ == events.TOOL_FINISHED:
        step.update(ok=bool(data.get("ok")), result=data.get("result"), error=data.get("error"), duration_ms=data.get("duration_ms"))
