"""Turns answered in this process: the test's own database, the scripted SLM, and `turn.run` called as the worker calls it.

A message is stored the way the gateway stores it (its event and its turn job commit with it); the
turn then runs here instead of in a worker process, with the worker's own SLM client and key watcher
built from settings. Process lifecycles (kill, drain, restart) stay in tests/acceptance.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config
from soma.conversations import events, messages, sessions, timeline, turn, turn_tools
from soma.db import engine as db_engine
from soma.memory import store as memory
from soma.secrets import watch
from soma.settings import store as agent_settings
from soma.slm import client
from soma.tools import builtins, delegate
from tests import procs
from tests.conftest import EMBEDDER

DEFAULT_TEXT = "Hello from the scripted SLM."  # what the scripted SLM streams unless scripted otherwise
# The profiles Soma ships (migration 0014), {name, description} by name, as `delegate` lists them.
SHIPPED_PROFILES = sorted(
    ({"name": p["name"], "description": p["description"]} for p in importlib.import_module("soma.db.migrations.versions.0014_profiles_delegation_tasks").SHIPPED),
    key=lambda p: p["name"],
)  # fmt: skip
# `delegate` as a top chat offers it while the shipped profiles exist.
DELEGATE_TOOL = delegate.Delegate(SHIPPED_PROFILES, 0, 3, None).spec.definition()  # type: ignore[arg-type]  # nothing runs
# The tools a turn offers by default: memory is on, neither a memory nor a knowledge file exists to search, profiles exist.
MEMORY_TOOLS = [builtins.REMEMBER.definition(), builtins.FORGET.definition(), DELEGATE_TOOL]

# The worker's settings in these tests: the scripted SLM, and retries and timeouts short enough
# to cost milliseconds (production waits 0.5 s before the first retry and 30 s for a silent SLM).
WORKER_SETTINGS: dict[str, Any] = {"slm_model": "scripted", "slm_backoff_seconds": 0.01, "slm_read_timeout": 3.0}


@dataclass(frozen=True)
class Turn:
    """One message sent and answered: what `turn.run` returned, and the session as stored afterwards."""

    outcome: str  # turn.run's result: answered, failed or skipped
    session_id: uuid.UUID
    user: dict[str, Any]  # the user message as the gateway's POST answered it
    events: list[dict[str, Any]]  # the session's whole event log, each {id, event, data} as its SSE stream sends it
    messages: list[dict[str, Any]]  # the session's messages as GET /v1/sessions/{id}/messages lists them


class Turns:
    """Chats on one database whose messages are answered by `turn.run` in this process."""

    def __init__(self, engine: AsyncEngine, model: client.SLMClient, limits: turn.TurnLimits) -> None:
        self.engine = engine
        self.model = model
        self.limits = limits
        self.tools: turn_tools.ToolSource | None = None  # what the worker's MCP connections would give its turns

    async def new_session(self) -> uuid.UUID:
        """Start a chat, as POST /v1/sessions does."""
        async with self.engine.begin() as conn:
            return uuid.UUID((await sessions.create(conn, None))["id"])

    async def send(self, session_id: uuid.UUID, content: str) -> dict[str, Any]:
        """Store a user message with its event and its turn job, as POST /v1/sessions/{id}/messages does."""
        async with self.engine.begin() as conn:
            return await messages.post_user_message(conn, session_id, content)

    async def run(self, message_id: int) -> str:
        """Run the turn that answers a message, as the worker's task does."""
        return await turn.run(self.engine, self.model, EMBEDDER, message_id, self.limits, mcp=self.tools)

    async def work(self) -> str:
        """Run the oldest queued turn job as a worker does: mark it doing, run it with its args and id, mark it done.

        With its job id, the turn can be stopped (POST …/stop) as a worker's can.
        """
        async with self.engine.begin() as conn:
            job = (await conn.execute(_TAKE_JOB)).one()
        message_id, generation = job.args["message_id"], job.args.get("generation", 1)
        outcome = await turn.run(self.engine, self.model, EMBEDDER, message_id, self.limits, generation, job.id, mcp=self.tools)
        async with self.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"), {"id": job.id})
        return outcome

    async def answer(self, content: str, session_id: uuid.UUID | None = None) -> Turn:
        """Send `content` (in a new chat unless given one), run its turn, and read back the session."""
        session_id = session_id or await self.new_session()
        user = await self.send(session_id, content)
        outcome = await self.run(user["id"])
        return Turn(outcome, session_id, user, await self.events(session_id), await self.messages(session_id))

    async def events(self, session_id: uuid.UUID) -> list[dict[str, Any]]:
        """The session's event log, oldest first, shaped like the SSE events clients read."""
        async with self.engine.connect() as conn:
            return [{"id": e.id, "event": e.type, "data": e.data} for e in await events.after(conn, session_id, 0)]

    async def messages(self, session_id: uuid.UUID) -> list[dict[str, Any]]:
        """The session's messages, oldest first."""
        async with self.engine.connect() as conn:
            return await messages.list_for_session(conn, session_id)

    async def queued_jobs(self) -> list[tuple[str, str, str, dict[str, Any], str]]:
        """Every procrastinate job: (queue, task, lock, args, status), oldest first."""
        query = sa.text("SELECT queue_name, task_name, lock, args, status::text FROM procrastinate_jobs ORDER BY id")
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(query)]

    async def change_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the agent's settings, as PUT /v1/settings does."""
        async with self.engine.begin() as conn:
            return await agent_settings.update(conn, changes)

    async def choose_tool(self, server: str, tool: str, enabled: bool = True, approval: str = "auto") -> None:
        """An admin's choice for one tool, as PATCH /v1/tools/{server}/{tool} stores it."""
        choice = sa.text(
            "INSERT INTO tool_settings (server, tool, enabled, approval) VALUES (:server, :tool, :enabled, :approval) "
            "ON CONFLICT (server, tool) DO UPDATE SET enabled = excluded.enabled, approval = excluded.approval"
        )
        async with self.engine.begin() as conn:
            await conn.execute(choice, {"server": server, "tool": tool, "enabled": enabled, "approval": approval})

    async def remember(self, content: str) -> dict[str, Any]:
        """Store a memory, as POST /v1/memories does."""
        async with self.engine.begin() as conn:
            return await memory.create(conn, EMBEDDER, content, source="user")

    async def memories(self) -> list[tuple[int, str, str]]:
        """Every stored memory as (id, content, source), oldest first."""
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(sa.text("SELECT id, content, source FROM memories ORDER BY id"))]


_TAKE_JOB = sa.text(
    "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = "
    "(SELECT min(id) FROM procrastinate_jobs WHERE status = 'todo') RETURNING id, args"
)


@contextlib.asynccontextmanager
async def turns(database_url: str, slm: procs.ScriptedSLM, settings: config.Settings, **overrides: Any) -> AsyncIterator[Turns]:
    """A worker's turn machinery in this process, on the scripted SLM; `overrides` are Settings fields (slm_max_attempts=2)."""
    chosen = settings.model_copy(update={"slm_base_url": slm.base_url, **WORKER_SETTINGS, **overrides})
    keys = watch.SecretWatcher(chosen)
    keys.load()
    engine = db_engine.create(database_url, pool_size=2)
    model = client.SLMClient(client.SLMConfig.from_settings(chosen), keys)
    try:
        yield Turns(engine, model, turn.TurnLimits(history_messages=chosen.history_messages))
    finally:
        await model.aclose()
        await engine.dispose()


@contextlib.asynccontextmanager
async def turns_on_test_key(
    database_url: str, slm: procs.ScriptedSLM, settings: config.Settings, monkeypatch: Any, tmp_path: Any, **overrides: Any
) -> AsyncIterator[Turns]:
    """`turns` whose SLM key is the test settings' own: none from SOMA_SLM_API_KEY or a ./.env the key watcher re-reads."""
    monkeypatch.delenv("SOMA_SLM_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    async with turns(database_url, slm, settings, **overrides) as running:
        yield running


def condensed(log: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The events as (type, data), each run of deltas of one reply joined into one delta.

    How many deltas carry a reply depends on timing: the writer sends pieces that arrive while a
    write commits as one delta. The joined text and everything around it does not.
    """
    joined: list[tuple[str, dict[str, Any]]] = []
    for entry in log:
        kind, data = entry["event"], entry["data"]
        if kind == events.ASSISTANT_DELTA and joined and joined[-1][0] == kind and joined[-1][1]["reply_to"] == data["reply_to"]:
            joined[-1] = (kind, {**joined[-1][1], "text": joined[-1][1]["text"] + data["text"]})
        else:
            joined.append((kind, data))
    return joined


class _Milliseconds:
    """Equal to any duration in milliseconds: how long a turn takes depends on the machine."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int | float) and not isinstance(other, bool) and other >= 0

    def __repr__(self) -> str:
        return "<milliseconds>"


class _Stages:
    """Equal to a turn's `meta.timeline`: some of the stages of soma.conversations.timeline, each a number of ms."""

    def __eq__(self, other: object) -> bool:
        names = {stage for stage, _start, _end in timeline.STAGES}
        return isinstance(other, dict) and set(other) <= names and all(isinstance(v, int | float) for v in other.values())

    def __repr__(self) -> str:
        return "<turn stages>"


class _Timestamp:
    """Equal to any ISO 8601 time with a zone, as messages carry in `created_at`."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        try:
            return datetime.datetime.fromisoformat(other).tzinfo is not None
        except ValueError:
            return False

    def __repr__(self) -> str:
        return "<timestamp>"


MILLISECONDS = _Milliseconds()
TIMESTAMP = _Timestamp()
STAGES = _Stages()


def answered_at_once(user: dict[str, Any], reply: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events of a turn answered at its first attempt: the user message, then `reply` stored, its deltas gone with it."""
    return [
        (events.MESSAGE_CREATED, {"message": user}),
        (events.TURN_STARTED, {"reply_to": user["id"], "attempt": 1}),
        (events.ASSISTANT_MESSAGE, {"message": reply}),
    ]


def user_message(session_id: uuid.UUID, id: int, content: str) -> dict[str, Any]:
    """A user message as stored."""
    return {
        "id": id, "session_id": str(session_id), "role": "user", "content": content,
        "reply_to": None, "meta": {}, "citations": [], "stopped": False, "versions": [], "created_at": TIMESTAMP,
    }


def assistant_message(user: dict[str, Any], id: int, content: str, **meta: Any) -> dict[str, Any]:
    """The assistant message answering `user`, as stored: `meta` changes a plain turn's (model `scripted`, nothing recalled or stored)."""
    plain = {
        "model": "scripted", "first_token_ms": MILLISECONDS, "total_ms": MILLISECONDS,
        "memories": [], "remembered": [], "forgotten": [], "citations": [], "sources": [], "timeline": STAGES,
    }
    merged = {**plain, **meta}
    return {
        "id": id, "session_id": user["session_id"], "role": "assistant", "content": content,
        "reply_to": user["id"], "meta": merged, "citations": merged["citations"], "stopped": merged.get("stopped", False),
        "versions": [], "created_at": TIMESTAMP,
    }
