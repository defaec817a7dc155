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
from soma.conversations import context, events, messages, prompt, question, sources, steps, stops, subordinates, tool_calls, tool_loop, turn_tools
from soma.conversations.reply import Answer, Reply
from soma.conversations.timeline import Timeline
from soma.conversations.writer import EventWriter
from soma.db import engine as db_engine
from soma.embeddings.embedder import Embedder
from soma.memory import intents
from soma.profiles import refinement
from soma.slm import client as slm
from soma.tools import builtin_tools, delegate, run_code, sandbox_status
from soma.tools.registry import Tool, ToolResult

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
    mcp: turn_tools.ToolSource | None = None,
    sandbox: sandbox_status.Watch | None = None,
    tree: subordinates.Tree | None = None,
) -> str:
    """Write the `generation`-th answer to user message `message_id`; returns the outcome (`answered`, `stopped`, `failed`, `skipped`).

    `job_id` is the queue job running the turn: a stop request for it (soma.conversations.stops)
    ends the stream and keeps the partial answer, marked `stopped`. `fetched_at` is when the
    worker took the job (time.time()), the end of the turn's `queue` stage (timeline.py). `writes`
    (db.engine.create_for_events) takes the streamed events; without it, `engine` does, which also
    takes the tool steps' records (durably). `mcp` gives the MCP tools working now, `sandbox` the
    way to the sandbox service that run_code runs in.
    A run of a turn that ran before (its worker died) resumes after its last finished tool step.
    `tree` is given to a subordinate turn (a `delegate` call's, run inside its parent's): it shares
    its top turn's step budget and stop, and leaves the job's stop request to the top turn.
    """
    async with db_engine.autocommit(engine) as conn:
        asked = await question.read(conn, message_id, limits.history_messages, generation)
        if asked is None or asked.answers >= generation:
            return "skipped"  # deleted, or answered by an earlier run of this same turn
        user_message, agent = asked.message, refinement.settings(asked.agent, asked.profile)  # the chat's profile refines the settings
        posted = datetime.datetime.fromisoformat(user_message["created_at"]).timestamp() if generation == 1 else None
        timeline = Timeline(posted, fetched_at)  # a regenerated answer's queue did not start when its question was posted
        session_id = uuid.UUID(user_message["session_id"])
        recorded = steps.recorded(asked.recorded)
        stored_before = frozenset(steps.changed_memories([c.result for c in recorded], "remembered"))
        known = await context.gather(conn, embedder, asked, stored_before)
    chat = prompt.build(agent.system_prompt, asked.history, known.memories, known.excerpts)
    top = tree is None
    if tree is None:  # the first request is in hand; the rest are the budget of the whole tree
        tree = subordinates.Tree(tool_loop.Budget(agent.max_tool_steps - 1), stops.Signal())

    async def answer(child_question: int, child_tree: subordinates.Tree) -> str:
        """A subordinate's turn: run inline, with this turn's means (subordinates.py)."""
        return await run(engine, model, embedder, child_question, limits, writes=writes, mcp=mcp, sandbox=sandbox, tree=child_tree)

    built_in = builtin_tools.every(engine, embedder)
    if sandbox is not None:
        built_in["run_code"] = run_code.RunCode(engine, sandbox, agent)
    below = subordinates.Subordinates(engine, session_id, tree, answer)
    built_in["delegate"] = delegate.Delegate(asked.profiles, asked.depth, agent.delegation_max_depth, below)
    intended = None
    if agent.memory_enabled:
        chat, intended = await _memory_request(built_in, user_message["content"], chat)
    toolset = turn_tools.offer(asked, built_in, mcp, code_runs=sandbox is not None and sandbox.available)
    options = slm.CallOptions(model=agent.slm_model, temperature=agent.temperature)
    timeline.mark("prepared")
    started = time.monotonic()
    async with EventWriter(writes or engine, session_id, message_id, timeline, durable=engine) as writer:
        writer.event(events.TURN_STARTED, {"reply_to": message_id, "attempt": 1})
        reply = Reply(writer, message_id, started, timeline)
        runner = None
        if toolset or recorded:
            about = tool_calls.Turn(session_id, message_id, generation)
            runner = tool_calls.Runner(engine, writer, toolset, about, agent.tool_approval_timeout_seconds, recorded)
        loop = tool_loop.Loop(model, reply, chat, options, runner, agent.max_tool_steps, agent.tool_call_format, tree.budget)
        try:
            stopped = await stops.unless_stopped(loop.run(), tree.signal, engine, job_id, session_id, top)
        except errors.SLMError as exc:
            log.warning("turn for message %s failed: %s", message_id, exc.code)
            writer.event(events.TURN_FAILED, {"reply_to": message_id, "reason": exc.code, "message": exc.message})
            stopped = None
        if stopped and runner is not None:
            await runner.stop()
    async with db_engine.autocommit(engine) as conn:  # each statement its own transaction
        if stopped is None:
            await stops.clear(conn, job_id)
            return "failed"
        answer = reply.answer()
        calls = runner.calls if runner is not None else []
        meta = _meta(options.model or model.config.model, answer, started, known, intended, calls, stopped) | {"timeline": timeline.stages()}
        stored = await messages.store_reply(conn, session_id, message_id, answer.text, meta, generation)
        await stops.clear(conn, job_id)  # after store_reply committed under the session lock: a stop request racing it has committed too
    if not stored:
        return "skipped"
    if top:  # a subordinate's stages are inside its parent's turn
        timeline.observe()
    return "stopped" if stopped else "answered"


def _meta(
    model_name: str, answer: Answer, started: float, known: context.TurnContext, intended: ToolResult | None,
    calls: list[steps.Call], stopped: bool,
) -> dict[str, Any]:  # fmt: skip
    """What the answer's `meta` records: model, timings, memories used and changed, citations and sources, the tool steps, and `stopped` when cut short."""
    results = [intended, *(c.result for c in calls)]
    meta: dict[str, Any] = {
        "model": model_name,
        "first_token_ms": answer.first_token_ms,
        "total_ms": _ms(started),
        "memories": [m["id"] for m in known.memories],
        "remembered": steps.changed_memories(results, "remembered"),
        "forgotten": steps.changed_memories(results, "forgotten"),
        "citations": prompt.citations(known.excerpts),
        "sources": sources.listed(known.excerpts, known.memories, answer.text),
    }
    if calls:
        meta["steps"] = steps.summary(calls)  # the chat's export shows them
    if answer.usage is not None:
        meta["usage"] = answer.usage  # the OpenAI-compatible API reports it
    return {**meta, "stopped": True} if stopped else meta


async def _memory_request(built_in: dict[str, Tool], text: str, chat: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], ToolResult | None]:
    """Carry out a "remember that …" or "forget that …" message, and tell the SLM in the system message; the chat and the result."""
    intent = intents.detect(text)
    if intent is None:
        return chat, None
    result = await built_in[intent.action].run({"content": intent.fact})
    return prompt.with_note(chat, intents.note(result.text)), result


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


async def record_cancelled(engine: AsyncEngine, message_id: int, reason: str, message: str, generation: int = 1) -> bool:
    """Record a turn stopped from outside (the emergency lockdown) as `turn.failed` with `reason`, and so the subordinate turns it ran.

    False when there is nothing to record: the message is gone, or its reply was stored just before.
    """
    async with engine.begin() as conn:
        user_message = await messages.get(conn, message_id)
        if user_message is None or await messages.answered(conn, message_id, generation):
            return False
        data = {"reply_to": message_id, "reason": reason, "message": message}
        session_id = uuid.UUID(user_message["session_id"])
        await events.append(conn, session_id, events.TURN_FAILED, data)
        # A subordinate's turn runs inside this one, so it ended too: its chat must not show it running forever.
        for question_id, child_session in await subordinates.unfinished_below(conn, session_id):
            await events.append(conn, child_session, events.TURN_FAILED, {**data, "reply_to": question_id})
    log.warning("turn for message %s failed: %s", message_id, reason)
    return True
