"""Many turns and many streams through real processes: every turn answered once, in order per chat; every stream gets all its events."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import psycopg

from soma.conversations import events
from tests.conftest import ADMIN
from tests.procs import SSEParser

SESSIONS = 64
ONE_CHAT_TURNS = 16
STREAMS = 200
EVENTS_PER_STREAM = 10
ANSWER = {"chunks": ["Fine", " and", " you", "?"], "delay": 0.005}


def _rows(database_url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


async def _read(client: httpx.AsyncClient, url: str, session_id: str, count: int, opened: asyncio.Event, ready: list[str]) -> list[dict]:
    """The first `count` events of a session's stream, as they arrive."""
    found: list[dict] = []
    parser = SSEParser()
    async with client.stream("GET", f"{url}/v1/sessions/{session_id}/events") as response:
        assert response.status_code == 200
        ready.append(session_id)
        if len(ready) == STREAMS:
            opened.set()
        async for line in response.aiter_lines():
            event = parser.feed(line)
            if event is not None:
                found.append(event)
                if len(found) == count:
                    return found
    raise AssertionError(f"the stream of {session_id} ended after {found}")


def test_200_streams_on_one_gateway_get_every_event_then_64_chats_and_16_turns_in_one_are_answered_once_in_order(stack) -> None:
    """One stack for both checks: a gateway start is the slowest part of either."""
    _streams_get_every_event(stack)
    _turns_are_answered_once_and_in_order(stack)


def _turns_are_answered_once_and_in_order(stack) -> None:
    stack.worker()  # SOMA_WORKER_CONCURRENCY at its default
    stack.slm.script(default=ANSWER)
    chats = [stack.new_session() for _ in range(SESSIONS)]
    busy = stack.new_session()
    posted = [stack.send(chat, f"How are you, chat {n}?")["id"] for n, chat in enumerate(chats)]
    in_order = [stack.send(busy, f"Question {n}")["id"] for n in range(ONE_CHAT_TURNS)]

    everything = posted + in_order
    stack.events(busy, lambda seen: sum(e["event"] == "assistant.message" for e in seen) == ONE_CHAT_TURNS, timeout=120)
    for chat in chats:
        stack.events(chat, lambda seen: any(e["event"] == "assistant.message" for e in seen), timeout=120)
    answers = _rows(stack.database_url, "SELECT reply_to, count(*) FROM messages WHERE role = 'assistant' GROUP BY reply_to")
    assert sorted(answers) == sorted((message_id, 1) for message_id in everything)  # each once, none missing
    replies = _rows(stack.database_url, "SELECT reply_to FROM messages WHERE session_id = %s AND role = 'assistant' ORDER BY id", busy)
    assert [r for (r,) in replies] == in_order  # one chat's answers in the order its questions came
    logged = _rows(stack.database_url, "SELECT count(*) FROM session_events WHERE type = 'assistant.message'")
    assert logged == [(SESSIONS + ONE_CHAT_TURNS,)]
    failed = _rows(stack.database_url, "SELECT count(*) FROM session_events WHERE type IN ('turn.failed', 'turn.cancelled')")
    assert failed == [(0,)]


def _streams_get_every_event(stack) -> None:
    chats = [stack.new_session() for _ in range(STREAMS)]

    async def run() -> list[list[dict]]:
        limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(headers=ADMIN, timeout=60, limits=limits) as client:
            opened, ready = asyncio.Event(), []
            readers = [asyncio.create_task(_read(client, stack.url, chat, EVENTS_PER_STREAM, opened, ready)) for chat in chats]
            await asyncio.wait_for(opened.wait(), 60)
            await asyncio.to_thread(_append_everywhere, stack.database_url, chats)
            return await asyncio.wait_for(asyncio.gather(*readers), 60)

    received = asyncio.run(run())
    for chat, got in zip(chats, received, strict=True):
        assert [e["id"] for e in got] == list(range(1, EVENTS_PER_STREAM + 1)), chat  # none lost, twice or out of order
        assert [e["data"] for e in got] == [{"reply_to": 1, "text": f"{chat} piece {n}"} for n in range(EVENTS_PER_STREAM)]
    with psycopg.connect(stack.database_url) as conn:  # the turns below count every chat's events
        conn.execute("DELETE FROM chat_sessions")


def _append_everywhere(database_url: str, chats: list[str]) -> None:
    """Append the events round-robin across the chats, each committed on its own, as turns write them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for n in range(EVENTS_PER_STREAM):
            for chat in chats:
                data = json.dumps({"reply_to": 1, "text": f"{chat} piece {n}"})
                conn.execute(events.APPEND_DRIVER_SQL, {"session_id": uuid.UUID(chat), "type": events.ASSISTANT_DELTA, "data": data})
