"""Opening a long chat: the event log as older versions left it (every delta kept) against the same chat compacted.

Run from the repository root:

    .venv/bin/python -m bench.long_chat [--turns 1000] [--deltas 200] [--repeats 5]

It starts an embedded PostgreSQL in a temporary directory (migrated with
`soma.db.migrate.upgrade`) and writes two chats with the same --turns questions and answers, each
answer streamed in --deltas pieces of a few characters (about what an SLM sends):

before    the log as Soma kept it until migration 0010: message.created, turn.started, every
          assistant.delta, then assistant.message, for every turn;
after     the same log compacted: the deltas of each stored answer gone, the other ids unchanged.

Then, on one `soma gateway` process over HTTP, it times what opening each chat costs: GET
/v1/sessions/{id}/messages, and the replay the web UI reads, GET /v1/sessions/{id}/events?after=0
until the event with the chat's last id arrives (a replay never ends by itself: after the stored
events the stream waits for new ones). It prints the median and best of --repeats, the events and
bytes each replay carried, and the ratio before / after. Last, what compaction costs a turn: one
more answer streamed into the compacted chat and stored through `messages.store_reply`, with the
plan of the delete. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.stack import running  # noqa: E402
from soma.conversations import events, messages  # noqa: E402
from soma.db import engine as db_engine  # noqa: E402
from soma.db import url as db_url  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

ADMIN_KEY = "soma_bench-admin-key-0123456789abcdefghijklmnop"
WAIT = 120.0  # seconds one request may take
WORDS = ("the", "keeper", "logs", "every", "ship", "that", "passes", "at", "dusk", "and", "lamp", "light", "harbour",
         "north", "wind", "tide", "charts", "storm", "signal", "crew")  # fmt: skip


def answer_pieces(rng: random.Random, count: int) -> list[str]:
    """An answer as an SLM streams it: `count` pieces of a word or two each."""
    return [" " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2))) for _ in range(count)]


def message(id_: int, session_id: uuid.UUID, role: str, content: str, reply_to: int | None, at: datetime.datetime) -> dict[str, Any]:
    """A message as soma.conversations.message_shape shows it, in the event log and the API."""
    meta = {"model": "scripted", "citations": []} if role == "assistant" else {}
    return {"id": id_, "session_id": str(session_id), "role": role, "content": content, "reply_to": reply_to, "meta": meta,
            "citations": [], "stopped": False, "versions": [], "created_at": at.isoformat()}  # fmt: skip


def write_chats(url: str, turns: int, deltas: int) -> dict[str, uuid.UUID]:
    """The two chats, same messages: `before` with every delta in its log, `after` without the stored answers' deltas."""
    rng = random.Random(7)
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    chats = {"before": uuid.uuid4(), "after": uuid.uuid4()}
    message_rows, event_rows, last_ids = [], [], {}
    next_message = 1
    script = [(f"Question {n}: what did the keeper log on night {n}?", answer_pieces(rng, deltas)) for n in range(turns)]
    for label, session_id in chats.items():
        event_id = 0

        def event(kind: str, data: dict[str, Any], session_id: uuid.UUID = session_id) -> None:
            nonlocal event_id
            event_id += 1
            event_rows.append((session_id, event_id, kind, json.dumps(data)))

        for question, pieces in script:
            user = message(next_message, session_id, "user", question, None, at)
            reply = message(next_message + 1, session_id, "assistant", "".join(pieces).strip(), user["id"], at)
            next_message += 2
            message_rows += [(m["id"], session_id, m["role"], m["content"], m["reply_to"], json.dumps(m["meta"])) for m in (user, reply)]
            event(events.MESSAGE_CREATED, {"message": user})
            event(events.TURN_STARTED, {"reply_to": user["id"], "attempt": 1})
            for piece in pieces:
                if label == "before":
                    event(events.ASSISTANT_DELTA, {"reply_to": user["id"], "text": piece})
                else:
                    event_id += 1  # compacted: the id was used and its delta deleted
            event(events.ASSISTANT_MESSAGE, {"message": reply})
        last_ids[label] = event_id
    with psycopg.connect(url) as conn:
        for label, session_id in chats.items():
            conn.execute("INSERT INTO chat_sessions (id, title, last_event_id) VALUES (%s, %s, %s)", (session_id, f"Long chat ({label})", last_ids[label]))
        with conn.cursor().copy("COPY messages (id, session_id, role, content, reply_to, meta) FROM STDIN") as copy:
            for row in message_rows:
                copy.write_row(row)
        with conn.cursor().copy("COPY session_events (session_id, id, type, data) FROM STDIN") as copy:
            for row in event_rows:
                copy.write_row(row)
        conn.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages))")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE messages, session_events, chat_sessions")
    return chats


def replay(http: httpx.Client, session_id: uuid.UUID, last_id: int) -> tuple[float, int, int]:
    """Seconds to read the chat's whole log from the start, and the events and bytes it took."""
    parser, count, size = procs.SSEParser(), 0, 0
    started = time.perf_counter()
    with http.stream("GET", f"/v1/sessions/{session_id}/events", params={"after": 0}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            size += len(line) + 1
            found = parser.feed(line)
            if found is not None:
                count += 1
                if found.get("id") == last_id:
                    return time.perf_counter() - started, count, size
    raise RuntimeError("the stream ended before the chat's last event")


def opened(http: httpx.Client, session_id: uuid.UUID) -> tuple[float, int]:
    """Seconds for GET /v1/sessions/{id}/messages, and how many messages it listed."""
    started = time.perf_counter()
    response = http.get(f"/v1/sessions/{session_id}/messages")
    response.raise_for_status()
    return time.perf_counter() - started, len(response.json()["messages"])


def measure_opening(base_url: str, url: str, chats: dict[str, uuid.UUID], repeats: int) -> None:
    with psycopg.connect(url) as conn:
        last = {label: conn.execute("SELECT last_event_id FROM chat_sessions WHERE id = %s", (sid,)).fetchone()[0] for label, sid in chats.items()}
        stored = {label: conn.execute("SELECT count(*) FROM session_events WHERE session_id = %s", (sid,)).fetchone()[0] for label, sid in chats.items()}
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    figures: dict[str, dict[str, list[float]]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=WAIT) as http:
        for label in chats:  # one untimed round each, so neither pays for a cold cache alone
            replay(http, chats[label], last[label])
            opened(http, chats[label])
        for _ in range(repeats):
            for label, session_id in chats.items():
                seconds, count, size = replay(http, session_id, last[label])
                listed, _n = opened(http, session_id)
                figures.setdefault(label, {"replay": [], "messages": []})
                figures[label]["replay"].append(seconds)
                figures[label]["messages"].append(listed)
                sizes[label] = (count, size)
    print(f"\n{'chat':<8}{'events stored':>15}{'replayed':>10}{'MB':>8}{'replay median s':>17}{'best s':>9}{'messages median s':>19}")
    for label in chats:
        count, size = sizes[label]
        replays, lists = figures[label]["replay"], figures[label]["messages"]
        print(f"{label:<8}{stored[label]:>15}{count:>10}{size / 1e6:>8.1f}{stats.median(replays):>17.3f}{min(replays):>9.3f}"
              f"{stats.median(lists):>19.3f}")  # fmt: skip
    ratio = stats.median(figures["before"]["replay"]) / stats.median(figures["after"]["replay"])
    both = [stats.median(figures[label]["replay"]) + stats.median(figures[label]["messages"]) for label in ("before", "after")]
    print(f"replay before / after: {ratio:.1f}x; messages + replay: {both[0]:.3f} s -> {both[1]:.3f} s ({both[0] / both[1]:.1f}x)")


async def measure_compaction(url: str, session_id: uuid.UUID, deltas: int) -> None:
    """One more answer streamed into the compacted chat, then stored: the delete's plan and the store's time."""
    engine = db_engine.create(url, pool_size=1)
    rng = random.Random(11)
    pieces = answer_pieces(rng, deltas)
    try:
        async with engine.begin() as conn:
            user = await messages.post_user_message(conn, session_id, "One more question?")
            await events.append(conn, session_id, events.TURN_STARTED, {"reply_to": user["id"], "attempt": 1})
            for piece in pieces:
                await events.append(conn, session_id, events.ASSISTANT_DELTA, {"reply_to": user["id"], "text": piece})
        async with engine.connect() as conn:  # EXPLAIN ANALYZE deletes: rolled back
            explain = sa.text("EXPLAIN (ANALYZE, COSTS OFF) DELETE FROM session_events WHERE " + events.DELTAS_BEFORE_ANSWER)
            plan = (await conn.execute(explain, {"session_id": session_id})).all()
            await conn.rollback()
        print(f"\nthe delete when the next answer is stored (a {deltas}-delta answer in the compacted chat):")
        for row in plan:
            print("  " + row[0])
        async with engine.begin() as conn:
            started = time.perf_counter()
            await messages.store_reply(conn, session_id, user["id"], "".join(pieces).strip(), {"citations": []})
            stored = time.perf_counter() - started
        async with engine.connect() as conn:
            left = await events.after(conn, session_id, 0, limit=1_000_000)
        print(f"store_reply with compaction: {stored * 1000:.1f} ms; deltas left in the chat: "
              f"{sum(e.type == events.ASSISTANT_DELTA for e in left)}")  # fmt: skip
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000, help="questions and answers per chat (default 1000)")
    parser.add_argument("--deltas", type=int, default=200, help="streamed pieces per answer (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="timed openings of each chat (default 5)")
    args = parser.parse_args(argv)

    with running("soma-bench-long-chat-") as stack:
        stack.start_database()
        url = db_url.for_libpq(stack.database_url)
        started = time.perf_counter()
        chats = write_chats(url, args.turns, args.deltas)
        print(f"wrote two chats of {args.turns} turns ({args.deltas} deltas an answer) in {time.perf_counter() - started:.1f}s")
        stack.start_gateway(stack.soma_env(bootstrap_admin_key=ADMIN_KEY))
        measure_opening(stack.url, url, chats, args.repeats)
        asyncio.run(measure_compaction(stack.database_url, chats["after"], args.deltas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
