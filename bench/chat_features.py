"""Chat search and Stop: GET /v1/sessions?query= against an ILIKE scan, and a stop's latency against its poll interval.

Run from the repository root:

    .venv/bin/python -m bench.chat_features [--chats 2000] [--messages 50] [--stops 10] [--repeats 15]

It starts, all on 127.0.0.1: an embedded PostgreSQL in a temporary directory (migrated with
`soma.db.migrate.upgrade`), fills it with --chats chats of --messages messages of generated text
(COPY, with the search indexes dropped while loading and rebuilt after), then starts
tests/scripted_slm.py answering slowly, one `soma gateway` and one `soma worker`.

Search    For a few queries (a rare word, an absent one, a medium one, a prefix, two words, the
          commonest word, one letter as the web page sends it mid-typing) it times GET /v1/sessions?query=… on the gateway as an admin (every
          chat) and as a member (a tenth of them), `soma.conversations.search.find` in-process
          (the same SQL, no HTTP), and the baseline: the same question asked with `ILIKE '%word%'`
          over titles and messages, which no index serves. p50/p95 of each, the ratio baseline /
          search, the number of chats each finds, the indexes the search's plan uses, their sizes.
Stop      --stops times: a new chat, one message, and once the answer streams (after a random
          0.2–1.2 s, so the stop lands anywhere in the worker's poll cycle) POST …/stop; it times,
          from just before that POST, the 202 and the `assistant.message` with `stopped` true on
          the chat's event stream. p50 and max, against the stop-check interval
          (stops.POLL_SECONDS), the SLM's chunk interval and the issue's goal of one second.

Figures only; nothing is asserted. Everything it started is stopped at the end, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import random
import signal
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

from soma.auth import tokens  # noqa: E402
from soma.conversations import search, stops  # noqa: E402
from bench import stats  # noqa: E402
from bench.stack import Stack, running, unwind_on  # noqa: E402
from soma.db import engine as db_engine  # noqa: E402
from soma.db import url as db_url  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

ADMIN_KEY = "soma_bench-admin-key-0123456789abcdefghijklmnop"
MEMBER_KEY = "soma_bench-member-key-0123456789abcdefghijklmno"
SEARCH_INDEXES = ("chat_sessions_title_search", "messages_content_search")
GOAL = 1.0  # seconds: the goal from Stop to the stopped answer
WAIT = 30.0  # seconds any one step may take before it counts as an error
BUDGET = 4.0  # seconds one path of one query may take; past it a slow path stops at MIN_REPEATS samples
MIN_REPEATS = 3
OWNERS = 10  # chats are spread over this many owners; the member owns one share

# Searched words planted at known rates, so each query finds what its label says.
QUERIES = [
    ("rare word", "quokka"),
    ("absent word", "zyzzyva"),
    ("medium word", "postgresql"),
    ("prefix", "lisb"),
    ("two words", "invoice march"),
    ("commonest word", "the"),
    ("one letter, as typed", "t"),  # the web page searches after a 250 ms pause in typing: a first letter is a query
]
PLANTED = {"postgresql": 0.01, "Lisbon": 0.005, "invoice": 0.02, "March": 0.02}  # share of messages holding each
RARE = ("quokka", 8)  # this word in exactly this many messages
COMMON = """the of and to a in is you that it for i on with this be can are as have not your or at but if do we will
from what by an so my one all there more about which when use would like just was how should also need some them get
any here then than into these other time make may could only each most way first""".split()
TOPICS = """server backup garden recipe meeting train flight budget report kitchen holiday python database query index
schedule doctor school password network printer battery camera account email calendar weather coffee bread tomato
bicycle contract landlord insurance laptop router cluster deploy release ticket customer supplier warehouse shipment
concert museum hotel airport passport visa translation letter essay chapter lecture exam thesis recipe oven pasta
salad soup cake flour sugar butter cheese wine beer tea""".split()
SYLLABLES = "ba ke ri mo tu sa ven dro pel gam fi no zu ter cal mun ho rak sil ped".split()


# ---------------------------------------------------------------------------------------------
# The data: chats of generated text, loaded with COPY


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Real common words, topic words and a long tail of made-up ones, with Zipf weights (cumulative)."""
    tail = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(6000)})
    rng.shuffle(tail)
    words = COMMON + TOPICS + tail
    cumulative, total = [], 0.0
    for rank in range(len(words)):
        total += 1 / (rank + 2.7)
        cumulative.append(total)
    return words, cumulative


def message_text(rng: random.Random, words: list[str], cumulative: list[float], count: int, planted: list[str]) -> str:
    """`count` Zipf-drawn words in sentences of 6–18, with the planted words at random places."""
    drawn = rng.choices(words, cum_weights=cumulative, k=count)
    for word in planted:
        drawn.insert(rng.randrange(len(drawn) + 1), word)
    sentences, start = [], 0
    while start < len(drawn):
        end = start + rng.randint(6, 18)
        piece = drawn[start:end]
        sentences.append(piece[0].capitalize() + " " + " ".join(piece[1:]) + "." if len(piece) > 1 else piece[0].capitalize() + ".")
        start = end
    return " ".join(sentences)


def title_of(text: str, limit: int = 50) -> str:
    """The first message cut at a word boundary before `limit` characters, as Soma titles a new chat."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


def populate(url: str, chats: int, per_chat: int, member_owner: str, seed: int = 5) -> None:
    """Chats with alternating questions (8–40 words) and answers (30–250 words); the search indexes rebuilt after."""
    rng = random.Random(seed)
    words, cumulative = vocabulary(rng)
    total = chats * per_chat
    rare = set(rng.sample(range(total), min(RARE[1], total)))
    base = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=365)
    spacing = datetime.timedelta(days=365) / max(chats, 1)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no triggers (foreign keys, NOTIFY) while loading
        definitions = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = ANY(%s)", (list(SEARCH_INDEXES),)).fetchall()
        for name in SEARCH_INDEXES:
            conn.execute(f'DROP INDEX "{name}"')
        session_rows, message_id = [], 0
        with conn.cursor().copy("COPY messages (id, session_id, role, content, reply_to, created_at) FROM STDIN") as copy:
            for chat in range(chats):
                session_id = uuid.uuid4()
                at = base + spacing * chat + datetime.timedelta(seconds=rng.uniform(0, 600))
                title = ""
                for n in range(per_chat):
                    message_id += 1
                    user = n % 2 == 0
                    planted = [w for w, share in PLANTED.items() if rng.random() < share]
                    if message_id - 1 in rare:
                        planted.append(RARE[0])
                    text = message_text(rng, words, cumulative, rng.randint(8, 40) if user else rng.randint(30, 250), planted)
                    title = title or title_of(text)
                    at += datetime.timedelta(seconds=rng.uniform(5, 120))
                    copy.write_row((message_id, session_id, "user" if user else "assistant", text, None if user else message_id - 1, at))
                owner = member_owner if chat % OWNERS == 0 else f"user:{1000 + chat % OWNERS}"
                session_rows.append((session_id, title, base + spacing * chat, at, owner))
        with conn.cursor().copy("COPY chat_sessions (id, title, created_at, updated_at, owner) FROM STDIN") as copy:
            for row in session_rows:
                copy.write_row(row)
        conn.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), %s)", (max(message_id, 1),))
        loaded = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        for (definition,) in definitions:
            conn.execute(definition)
        conn.execute("RESET session_replication_role")
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        size = conn.execute("SELECT pg_total_relation_size('messages')").fetchone()[0]
    print(f"  {chats} chats, {total} messages ({size / 1e6:.0f} MB with indexes): generated and copied in "
          f"{loaded - started:.1f} s, GIN indexes built and VACUUM in {time.perf_counter() - loaded:.1f} s", flush=True)


def create_member_key(url: str) -> str:
    """A chat-only API key, inserted directly; returns the owner its chats carry."""
    with psycopg.connect(url, autocommit=True) as conn:
        key_id = conn.execute(
            "INSERT INTO api_keys (token_hash, prefix, name, scopes, created_by) VALUES (%s, %s, 'bench member', '{chat}', 'bench') RETURNING id",
            (tokens.digest(MEMBER_KEY), tokens.shown_prefix(MEMBER_KEY)),
        ).fetchone()[0]
    return f"key:{key_id}"


# ---------------------------------------------------------------------------------------------
# Search: the endpoint, the same SQL in-process, and the ILIKE baseline

ILIKE = sa.text(
    """SELECT s.id, s.title, s.created_at, s.updated_at, s.last_event_id
         FROM chat_sessions s
         JOIN (SELECT id AS session_id FROM chat_sessions WHERE title ILIKE ALL(:patterns)
               UNION SELECT session_id FROM messages WHERE content ILIKE ALL(:patterns)) hit ON hit.session_id = s.id
        ORDER BY s.updated_at DESC LIMIT 100"""
)  # the same question without the search's indexes: every title and message holding every word, newest first
ILIKE_COUNT = sa.text(
    """SELECT count(*) FROM (SELECT id FROM chat_sessions WHERE title ILIKE ALL(:patterns)
                             UNION SELECT session_id FROM messages WHERE content ILIKE ALL(:patterns)) hit"""
)
FTS_COUNT = sa.text(
    """SELECT count(*) FROM (
         SELECT id FROM chat_sessions WHERE to_tsvector('simple'::regconfig, title) @@ to_tsquery('simple'::regconfig, :q)
         UNION SELECT session_id FROM messages
          WHERE to_tsvector('simple'::regconfig, left(content, 100000)) @@ to_tsquery('simple'::regconfig, :q)) hit"""
)


def timed(call, repeats: int) -> tuple[list[float], Any]:
    """ms of up to `repeats` calls after one unmeasured warm-up call, and the last result; a slow path stops after BUDGET."""
    result = call()
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < repeats and not (len(times) >= MIN_REPEATS and time.perf_counter() - began > BUDGET):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


async def atimed(call, repeats: int) -> tuple[list[float], Any]:
    """timed() for a coroutine function."""
    result = await call()
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < repeats and not (len(times) >= MIN_REPEATS and time.perf_counter() - began > BUDGET):
        started = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def index_names(plan: Any) -> set[str]:
    """Every `Index Name` in an EXPLAIN (FORMAT JSON) plan."""
    if isinstance(plan, dict):
        found = {plan["Index Name"]} if "Index Name" in plan else set()
        return found.union(*(index_names(value) for value in plan.values()))
    if isinstance(plan, list):
        return set().union(*(index_names(item) for item in plan))
    return set()


async def in_database(url: str, text: str, repeats: int) -> dict[str, Any]:
    """search.find and the ILIKE baseline on one pooled connection; their times, counts and the search's plan."""
    engine = db_engine.create(url, pool_size=1)
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        captured.append((statement, params))

    patterns = [f"%{word}%" for word in text.split()]
    try:
        async with engine.connect() as conn:
            sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
            await search.find(conn, text)
            sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)
            statement, params = captured[-1]
            plan = (await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params)).scalar_one()
            async def scan() -> list[Any]:
                return (await conn.execute(ILIKE, {"patterns": patterns})).all()

            fts_ms, _ = await atimed(lambda: search.find(conn, text), repeats)
            ilike_ms, _ = await atimed(scan, repeats)
            fts_chats = (await conn.execute(FTS_COUNT, {"q": search.tsquery(text)})).scalar_one()
            ilike_chats = (await conn.execute(ILIKE_COUNT, {"patterns": patterns})).scalar_one()
    finally:
        await engine.dispose()
    return {"fts_ms": fts_ms, "ilike_ms": ilike_ms, "fts_chats": fts_chats, "ilike_chats": ilike_chats, "indexes": index_names(plan)}


SEARCH_TABLE = stats.Table(("query", "<27", ""), ("path", "<30", ""), ("n", ">4", ""), ("p50", ">9", ".2f"), ("p95", ">9", ".2f"),
                           ("ILIKE/this p50", ">16", ".1f"), ("chats", ">8", ""))  # fmt: skip


def measure_search(stack: Stack, repeats: int) -> None:
    print(f"\n=== chat search: up to {repeats} timed calls per row after one warm-up, fewer (at least {MIN_REPEATS}) past {BUDGET:.0f} s; ms ===")
    print(SEARCH_TABLE.heading())
    headers = lambda key: {"Authorization": f"Bearer {key}"}  # noqa: E731
    with httpx.Client(base_url=stack.url, timeout=WAIT) as http:
        for label, text in QUERIES:
            found = asyncio.run(in_database(stack.database_url, text, repeats))

            def endpoint(key: str) -> int:
                response = http.get("/v1/sessions", params={"query": text}, headers=headers(key))
                response.raise_for_status()
                return len(response.json()["sessions"])

            admin_ms, admin_n = timed(lambda: endpoint(ADMIN_KEY), repeats)
            member_ms, member_n = timed(lambda: endpoint(MEMBER_KEY), repeats)
            base = stats.percentile(found["ilike_ms"], 50)
            rows = [
                ("GET ?query= as admin", admin_ms, f"{admin_n}"),
                ("GET ?query= as member (1/10)", member_ms, f"{member_n}"),
                ("search.find in-process", found["fts_ms"], f"{found['fts_chats']}*"),
                ("baseline: ILIKE '%…%' scan", found["ilike_ms"], f"{found['ilike_chats']}*"),
            ]
            name = f"{label} '{text}'"
            for path, times, chats in rows:
                p50 = stats.percentile(times, 50)
                print(SEARCH_TABLE.row(name, path, len(times), p50, stats.percentile(times, 95), base / p50, chats))
                name = ""
            print(f"{'':<27}plan uses: {', '.join(sorted(found['indexes'])) or 'no index'}")
    print("chats: what the endpoint returned (at most 100); * every chat matching, counted in SQL. ILIKE matches")
    print("substrings and the search whole words or prefixes, so their counts may differ.")
    rows = stack.sql(
        """SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c
            WHERE c.relname = ANY(%s) OR c.relname IN ('messages', 'chat_sessions') ORDER BY c.relname""",
        list(SEARCH_INDEXES),
    )
    toast = stack.sql("SELECT coalesce(pg_relation_size(nullif(reltoastrelid, 0)), 0) FROM pg_class WHERE relname = 'messages'")[0][0]
    print("sizes: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in rows) + f", messages' TOAST {toast / 1e6:.1f} MB")


# ---------------------------------------------------------------------------------------------
# Stop: from POST …/stop to the stopped answer on the event stream


def reply_to(event: dict) -> int | None:
    data = event.get("data") or {}
    return (data.get("message") or {}).get("reply_to") if event["event"] == "assistant.message" else data.get("reply_to")


async def read_turn(lines, mine: int, streaming: asyncio.Event, seen: list[tuple[float, dict]]) -> None:
    """Note every event answering `mine` with its arrival time, until the answer or a failure; set `streaming` at the first delta."""
    parser = procs.SSEParser()
    async for line in lines:
        event = parser.feed(line)
        if event is None or reply_to(event) != mine:
            continue
        seen.append((time.perf_counter(), event))
        if event["event"] == "assistant.delta":
            streaming.set()
        elif event["event"] in ("assistant.message", "turn.failed"):
            return
    raise RuntimeError("the event stream closed")


async def one_stop(http: httpx.AsyncClient, rng: random.Random) -> dict[str, float]:
    """A new chat, one message, a stop once it streams; ms from just before the stop's POST, words streamed after it."""
    session = (await http.post("/v1/sessions", json={})).raise_for_status().json()["id"]
    async with http.stream("GET", f"/v1/sessions/{session}/events", timeout=httpx.Timeout(5, read=None)) as stream:
        stream.raise_for_status()
        mine = (await http.post(f"/v1/sessions/{session}/messages", json={"content": "Talk slowly."})).raise_for_status().json()["id"]
        streaming, seen = asyncio.Event(), []
        reader = asyncio.create_task(read_turn(stream.aiter_lines(), mine, streaming, seen))  # reads while we wait
        try:
            await streaming.wait()
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            started = time.perf_counter()
            response = await http.post(f"/v1/sessions/{session}/stop")
            acknowledged = time.perf_counter()
            await reader
        finally:
            reader.cancel()
    ended, last = seen[-1]
    if response.status_code != 202:
        raise RuntimeError(f"stop answered {response.status_code}: {response.text[:200]}")
    if last["event"] != "assistant.message":
        raise RuntimeError(f"{last['event']}: {last['data']}")
    if not last["data"]["message"].get("stopped"):
        raise RuntimeError("the answer ended without `stopped`: the stop came too late")
    words = sum(len(e["data"]["text"].split()) for at, e in seen if at > started and e["event"] == "assistant.delta")
    return {"message": (ended - started) * 1000, "ack": (acknowledged - started) * 1000, "words": words}


async def measure_stops(stack: Stack, count: int, chunk_delay: float) -> None:
    print(f"\n=== stop latency: {count} stops, each at a random 0.2–1.2 s into a streaming answer ===")
    rng = random.Random(3)
    found: list[dict[str, float]] = []
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=WAIT) as http:
        for n in range(count):
            try:
                async with asyncio.timeout(WAIT):
                    found.append(await one_stop(http, rng))
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none ends the run
                errors.append(f"stop {n + 1}: {type(exc).__name__}: {exc}"[:300])
    times, acks = [f["message"] for f in found], [f["ack"] for f in found]
    print("per stop, ms: " + " ".join(f"{t:.0f}" for t in times))
    p50, worst = stats.percentile(times, 50), max(times, default=math.nan)
    print(f"POST stop → assistant.message (stopped)   p50 {p50:7.0f} ms   max {worst:7.0f} ms   ({len(times)} stops, {len(errors)} errors)")
    print(f"POST stop → its 202                        p50 {stats.percentile(acks, 50):7.0f} ms   max {max(acks, default=math.nan):7.0f} ms")
    words = [f["words"] for f in found]
    print(f"words streamed after the POST              p50 {stats.percentile(words, 50):7.0f}      max {max(words, default=math.nan):7.0f}")
    for name, ms in (("stop-check interval (stops.POLL_SECONDS)", stops.POLL_SECONDS * 1000),
                     ("scripted SLM chunk interval", chunk_delay * 1000), ("the issue's goal", GOAL * 1000)):  # fmt: skip
        print(f"  vs {name:<42}{ms:7.0f} ms   p50 ×{p50 / ms:5.2f}   max ×{worst / ms:5.2f}")
    for error in errors:
        print("  error: " + error)


# ---------------------------------------------------------------------------------------------
# The processes


def start_soma(stack: Stack, chunk_delay: float) -> None:
    """The scripted SLM answering for two minutes, a gateway and a worker running two turns at a time."""
    slm = stack.start_slm({"chunks": [f" word{n}" for n in range(int(120 / chunk_delay))], "delay": chunk_delay})
    env = stack.soma_env(slm, bootstrap_admin_key=ADMIN_KEY, worker_concurrency=2)
    stack.start_gateway(env)
    stack.start_workers(env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=2000, help="chats to search (default 2000)")
    parser.add_argument("--messages", type=int, default=50, help="messages per chat, questions and answers in turn (default 50)")
    parser.add_argument("--repeats", type=int, default=15, help="timed searches per query and path (default 15)")
    parser.add_argument("--stops", type=int, default=10, help="stops measured (default 10)")
    parser.add_argument("--chunk-delay", type=float, default=0.05, help="seconds between the scripted SLM's chunks (default 0.05)")
    args = parser.parse_args(argv)
    unwind_on(signal.SIGTERM)

    with running("soma-bench-chat-") as stack:
        print("starting embedded PostgreSQL and filling it …", flush=True)
        stack.start_database()
        populate(db_url.for_libpq(stack.database_url), args.chats, args.messages, create_member_key(db_url.for_libpq(stack.database_url)))
        print("starting the scripted SLM, soma gateway and worker …", flush=True)
        start_soma(stack, args.chunk_delay)
        measure_search(stack, args.repeats)
        asyncio.run(measure_stops(stack, args.stops, args.chunk_delay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
