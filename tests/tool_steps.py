"""A turn's tool steps written to the event log as the worker writes them, for the tests of what reads them back.

The web UI and the export read `tool.started`, `tool.finished`, `tool.approval` and `tool.output`
events (the issue's Interface, with `reply_to`); these helpers append them with `events.append`, the worker's
own call, and store an answer with `messages.store_reply`, as a turn does; `decided_elsewhere`
records a decision as the approvals route does, as if another tab had answered first. `Worker`
does the same from a synchronous test (a browser test: Playwright's loop owns its thread), one
short-lived connection per call in a thread of its own. Approving a call through the API
(`decide`) and waiting for a call's event (`wait_for_call`) serve the end-to-end approval tests,
which need a real turn loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import events, messages
from soma.db import engine as db_engine
from soma.db import tables
from tests import procs

T = TypeVar("T")


async def turn_started(conn: AsyncConnection, session_id: uuid.UUID, reply_to: int, attempt: int = 1) -> None:
    """A run of the turn answering `reply_to` begins (again, after a crash, with attempt 1)."""
    await events.append(conn, session_id, events.TURN_STARTED, {"reply_to": reply_to, "attempt": attempt})


async def started(
    conn: AsyncConnection, session_id: uuid.UUID, reply_to: int, call_id: str, name: str, arguments: Any, server: str = "soma", step: int = 1
) -> None:
    """A tool call begins."""
    data = {"call_id": call_id, "name": name, "server": server, "arguments": arguments, "reply_to": reply_to, "step": step}
    await events.append(conn, session_id, events.TOOL_STARTED, data)


async def finished(
    conn: AsyncConnection,
    session_id: uuid.UUID,
    reply_to: int,
    call_id: str,
    name: str,
    result: str,
    ok: bool = True,
    duration_ms: float = 12.0,
    error: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """A tool call ends: `ok` with its result, or not, with its error; `details` as the tool gave them (run_code's exit and files)."""
    data = {"call_id": call_id, "name": name, "ok": ok, "result": result, "duration_ms": duration_ms, "error": error, "reply_to": reply_to}
    if details is not None:
        data["details"] = details
    await events.append(conn, session_id, events.TOOL_FINISHED, data)


async def output(conn: AsyncConnection, session_id: uuid.UUID, reply_to: int, call_id: str, stream: str, text: str) -> None:
    """A running call prints (run_code's stdout or stderr), as tool_calls.py's CallContext.output writes it."""
    data = {"call_id": call_id, "stream": stream, "text": text, "reply_to": reply_to}
    await events.append(conn, session_id, events.TOOL_OUTPUT, data)


async def approval(
    conn: AsyncConnection, session_id: uuid.UUID, reply_to: int, call_id: str, name: str, arguments: Any, server: str = "soma", timeout_seconds: float = 300
) -> None:
    """A tool call waits for the user to allow or deny it."""
    data = {"call_id": call_id, "name": name, "server": server, "arguments": arguments, "reply_to": reply_to, "timeout_seconds": timeout_seconds}
    await events.append(conn, session_id, events.TOOL_APPROVAL, data)


async def decided_elsewhere(conn: AsyncConnection, session_id: uuid.UUID, call_id: str, allow: bool, decided_by: str = "user:ann") -> None:
    """The call's approval answered already (the first answer counts), as the approvals route records it."""
    await conn.execute(tables.tool_approvals.insert().values(session_id=session_id, call_id=call_id, allow=allow, decided_by=decided_by))


async def answer(conn: AsyncConnection, session_id: uuid.UUID, reply_to: int, content: str, generation: int = 1) -> dict[str, Any]:
    """Store the answer (its `generation`-th version) with its `assistant.message`, as a turn does."""
    stored = await messages.store_reply(conn, session_id, reply_to, content, {"model": "scripted", "citations": []}, generation)
    assert stored is not None, f"the answer to message {reply_to} was stored already"
    return stored


class Worker:
    """The helpers above for a synchronous test: each call runs in a thread with its own loop and connection."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work(conn)` in one committed transaction."""

        async def main() -> T:
            engine = db_engine.create(self.database_url, pool_size=1)
            try:
                async with engine.begin() as conn:
                    return await work(conn)
            finally:
                await engine.dispose()

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def turn_started(self, session_id: str, reply_to: int, attempt: int = 1) -> None:
        self.run(lambda conn: turn_started(conn, uuid.UUID(session_id), reply_to, attempt))

    def started(self, session_id: str, reply_to: int, call_id: str, name: str, arguments: Any, server: str = "soma") -> None:
        self.run(lambda conn: started(conn, uuid.UUID(session_id), reply_to, call_id, name, arguments, server))

    def finished(self, session_id: str, reply_to: int, call_id: str, name: str, result: str, **outcome: Any) -> None:
        self.run(lambda conn: finished(conn, uuid.UUID(session_id), reply_to, call_id, name, result, **outcome))

    def output(self, session_id: str, reply_to: int, call_id: str, stream: str, text: str) -> None:
        self.run(lambda conn: output(conn, uuid.UUID(session_id), reply_to, call_id, stream, text))

    def approval(self, session_id: str, reply_to: int, call_id: str, name: str, arguments: Any, **extra: Any) -> None:
        self.run(lambda conn: approval(conn, uuid.UUID(session_id), reply_to, call_id, name, arguments, **extra))

    def decided_elsewhere(self, session_id: str, call_id: str, allow: bool) -> None:
        self.run(lambda conn: decided_elsewhere(conn, uuid.UUID(session_id), call_id, allow))

    def answer(self, session_id: str, reply_to: int, content: str, generation: int = 1) -> dict[str, Any]:
        return self.run(lambda conn: answer(conn, uuid.UUID(session_id), reply_to, content, generation))


def decide(client: httpx.Client, url: str, session_id: str, call_id: str, allow: bool) -> httpx.Response:
    """POST /v1/sessions/{id}/approvals/{call_id} with {"allow": …}, as the chat's Allow and Deny buttons do."""
    return client.post(f"{url}/v1/sessions/{session_id}/approvals/{call_id}", json={"allow": allow})


def wait_for_call(client: httpx.Client, url: str, session_id: str, type_: str, timeout: float = 30) -> dict[str, Any]:
    """Read the chat's event stream until the first `type_` event (e.g. tool.approval, tool.finished); returns its data."""

    received = procs.read_events(client, f"{url}/v1/sessions/{session_id}/events?after=0", procs.has_event(type_), timeout=timeout)
    return next(event["data"] for event in received if event["event"] == type_)
