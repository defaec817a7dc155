"""One turn: answer a user message by streaming the SLM's reply into the event log, exactly once."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.conversations import context, events, messages, prompt
from soma.conversations.writer import EventWriter
from soma.embeddings.embedder import Embedder
from soma.settings import store
from soma.slm import client as slm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnLimits:
    """How much history one turn sends."""

    history_messages: int = 40


async def run(engine: AsyncEngine, model: slm.SLMClient, embedder: Embedder, message_id: int, limits: TurnLimits) -> str:
    """Answer user message `message_id`; returns the outcome (`answered`, `failed`, `skipped`)."""
    async with engine.connect() as conn:
        user_message = await messages.get(conn, message_id)
        if user_message is None or await messages.reply_exists(conn, message_id):
            return "skipped"  # deleted, or answered by an earlier run of this same turn
        session_id = uuid.UUID(user_message["session_id"])
        agent = await store.load(conn)
        history = await messages.history(conn, session_id, message_id, limits.history_messages)
        known = await context.gather(conn, embedder, agent, user_message["content"])
    chat = prompt.build(agent.system_prompt, history, known.memories, known.excerpts)
    options = slm.CallOptions(model=agent.slm_model, temperature=agent.temperature)
    started = time.monotonic()
    async with EventWriter(engine, session_id, message_id) as writer:
        writer.event(events.TURN_STARTED, {"reply_to": message_id, "attempt": 1})
        try:
            text, first_token = await _stream(model, writer, message_id, chat, options, started)
        except errors.SLMError as exc:
            log.warning("turn for message %s failed: %s", message_id, exc.code)
            writer.event(events.TURN_FAILED, {"reply_to": message_id, "reason": exc.code, "message": exc.message})
            return "failed"
    meta = {
        "model": options.model or model.config.model,
        "first_token_ms": first_token,
        "total_ms": _ms(started),
        "memories": [m["id"] for m in known.memories],
        "citations": prompt.citations(known.excerpts),
    }
    async with engine.begin() as conn:
        stored = await messages.store_reply(conn, session_id, message_id, text, meta)
    return "answered" if stored else "skipped"


async def _stream(
    model: slm.SLMClient,
    writer: EventWriter,
    message_id: int,
    chat: list[dict[str, str]],
    options: slm.CallOptions,
    started: float,
) -> tuple[str, float | None]:
    parts: list[str] = []
    first_token: float | None = None
    async for piece in model.stream(chat, options):
        if isinstance(piece, slm.Restart):
            parts.clear()  # clients drop the partial answer on turn.started too
            writer.event(events.TURN_STARTED, {"reply_to": message_id, "attempt": piece.attempt})
            continue
        if not parts:
            piece = piece.lstrip()  # models often open with a space or newline
            if not piece:
                continue
        if first_token is None:
            first_token = _ms(started)
        parts.append(piece)
        writer.delta(piece)
    return "".join(parts), first_token


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)
