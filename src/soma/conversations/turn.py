"""One turn: answer a user message by streaming the SLM's reply into the event log, exactly once."""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.conversations import context, events, messages, prompt, question, stops, tool_loop
from soma.conversations.timeline import Timeline
from soma.conversations.writer import EventWriter
from soma.db import engine as db_engine
from soma.embeddings.embedder import Embedder
from soma.memory import intents, tools
from soma.slm import client as slm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnLimits:
    """How much history one turn sends."""

    history_messages: int = 40


async def run(
    engine: AsyncEngine,
    model: slm.SLMClient,
    embedder: Embedder,
    message_id: int,
    limits: TurnLimits,
    generation: int = 1,
    job_id: int | None = None,
    fetched_at: float | None = None,
    writes: AsyncEngine | None = None,
) -> str:
    """Write the `generation`-th answer to user message `message_id`; returns the outcome (`answered`, `stopped`, `failed`, `skipped`).

    `job_id` is the queue job running the turn: a stop request for it (soma.conversations.stops)
    ends the stream and keeps the partial answer, marked `stopped`. `fetched_at` is when the
    worker took the job (time.time()), the end of the turn's `queue` stage (timeline.py). `writes`
    (db.engine.create_for_events) takes the streamed events; without it, `engine` does.
    """
    async with db_engine.autocommit(engine) as conn:
        asked = await question.read(conn, message_id, limits.history_messages)
        if asked is None or asked.answers >= generation:
            return "skipped"  # deleted, or answered by an earlier run of this same turn
        user_message, agent = asked.message, asked.agent
        posted = datetime.datetime.fromisoformat(user_message["created_at"]).timestamp() if generation == 1 else None
        timeline = Timeline(posted, fetched_at)  # a regenerated answer's queue did not start when its question was posted
        session_id = uuid.UUID(user_message["session_id"])
        known = await context.gather(conn, embedder, asked)
    chat = prompt.build(agent.system_prompt, asked.history, known.memories, known.excerpts)
    toolbox = tools.Toolbox(engine, embedder) if agent.memory_enabled else None
    if toolbox is not None:
        chat = await _memory_request(toolbox, user_message["content"], chat)
    offered = toolbox if agent.tools_enabled else None
    options = slm.CallOptions(model=agent.slm_model, temperature=agent.temperature)
    timeline.mark("prepared")
    started = time.monotonic()
    async with EventWriter(writes or engine, session_id, message_id, timeline) as writer:
        writer.event(events.TURN_STARTED, {"reply_to": message_id, "attempt": 1})
        reply = tool_loop.Reply(writer, message_id, started, timeline)
        try:
            stopped = await stops.unless_stopped(tool_loop.run(model, reply, chat, options, offered), engine, job_id, session_id)
        except errors.SLMError as exc:
            log.warning("turn for message %s failed: %s", message_id, exc.code)
            writer.event(events.TURN_FAILED, {"reply_to": message_id, "reason": exc.code, "message": exc.message})
            stopped = None
    async with db_engine.autocommit(engine) as conn:  # each statement its own transaction
        if stopped is None:
            await stops.clear(conn, job_id)
            return "failed"
        answer = reply.answer()
        meta = _meta(options.model or model.config.model, answer, started, known, toolbox, stopped) | {"timeline": timeline.stages()}
        stored = await messages.store_reply(conn, session_id, message_id, answer.text, meta, generation)
        await stops.clear(conn, job_id)  # after store_reply committed under the session lock: a stop request racing it has committed too
    if not stored:
        return "skipped"
    timeline.observe()
    return "stopped" if stopped else "answered"


def _meta(
    model_name: str, answer: tool_loop.Answer, started: float, known: context.TurnContext, toolbox: tools.Toolbox | None, stopped: bool
) -> dict[str, Any]:
    """What the answer's `meta` records: model, timings, memories used and changed, citations, and `stopped` when cut short."""
    meta = {
        "model": model_name,
        "first_token_ms": answer.first_token_ms,
        "total_ms": _ms(started),
        "memories": [m["id"] for m in known.memories],
        "remembered": toolbox.remembered if toolbox else [],
        "forgotten": toolbox.forgotten if toolbox else [],
        "citations": prompt.citations(known.excerpts),
    }
    if answer.usage is not None:
        meta["usage"] = answer.usage  # the OpenAI-compatible API reports it
    return {**meta, "stopped": True} if stopped else meta


async def _memory_request(toolbox: tools.Toolbox, text: str, chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Carry out a "remember that …" or "forget that …" message, and tell the SLM in the system message."""
    intent = intents.detect(text)
    if intent is None:
        return chat
    note = intents.note(await toolbox.execute(intent.action, {"content": intent.fact}))
    if chat and chat[0]["role"] == "system":
        return [{"role": "system", "content": f"{chat[0]['content']}\n\n{note}"}, *chat[1:]]
    return [{"role": "system", "content": note}, *chat]


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


async def record_cancelled(engine: AsyncEngine, message_id: int, reason: str, message: str, generation: int = 1) -> bool:
    """Record a turn stopped from outside (the emergency lockdown) as `turn.failed` with `reason`.

    False when there is nothing to record: the message is gone, or its reply was stored just before.
    """
    async with engine.begin() as conn:
        user_message = await messages.get(conn, message_id)
        if user_message is None or await messages.answered(conn, message_id, generation):
            return False
        data = {"reply_to": message_id, "reason": reason, "message": message}
        await events.append(conn, uuid.UUID(user_message["session_id"]), events.TURN_FAILED, data)
    log.warning("turn for message %s failed: %s", message_id, reason)
    return True
