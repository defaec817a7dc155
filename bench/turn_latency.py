"""Turn latency: the scripted SLM called directly versus the same SLM through Soma (gateway + worker).

Run from the repository root:

    .venv/bin/python -m bench.turn_latency [--turns 50] [--concurrency 1,16,64] [--chunks 20] [--chunk-delay 0.01] [--no-litellm]

Everything runs as real processes on 127.0.0.1, started and stopped by this script: an embedded
PostgreSQL in a temporary directory, tests/scripted_slm.py, one `soma gateway` and one `soma worker`.

"direct"        POST /v1/chat/completions (stream=true) to the scripted SLM; TTFT is the first content
                chunk, total is `data: [DONE]`.
"litellm"       the same request through LiteLLM proxy (bench/litellm_proxy.py: one process, installed on
                first use into bench/.litellm-venv, never a dependency of Soma) in front of the same SLM.
"soma-oai"      the same request to Soma's own POST /v1/chat/completions (model `soma`): a new chat each
                time, its turn through the queue and the event log like any other.
"through soma"  POST /v1/sessions/{id}/messages to the gateway while the session's SSE stream
                (GET /v1/sessions/{id}/events) is already open; TTFT is the first `assistant.delta`,
                total is the `assistant.message` event.

Both are timed by the same client, from just before the POST. Each concurrent client owns one
session (Soma serialises a session's turns) and keeps its SSE stream open across its turns, as
the web UI does. This prints figures only; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import litellm_proxy, stats  # noqa: E402
from bench.stack import Stack, running, unwind_on  # noqa: E402
from soma.conversations import timeline  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

TURN_TIMEOUT = 30.0  # seconds one turn may take before it counts as an error
USER_TEXT = "Benchmark question: how fast is a turn?"
SYSTEM_PROMPT = "You are Soma, a helpful assistant. Answer clearly and concisely."  # what Soma sends by default


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Turn:
    """One measured turn; times in ms from just before the POST. Wall-clock stamps for the breakdown."""

    ttft_ms: float
    total_ms: float
    session_id: str | None = None
    message_id: int | None = None  # soma: the user message this turn answered
    post_wall: float = 0.0          # time.time() just before the POST
    post_done_ms: float = 0.0       # POST response received (soma: the 202)
    first_delta_wall: float = 0.0
    final_wall: float = 0.0
    event_ids: dict[str, int] = field(default_factory=dict)  # message.created / turn.started / first delta / assistant.message


@dataclass
class LevelResult:
    mode: str
    concurrency: int
    turns: list[Turn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process while measuring


class CpuMeter:
    """CPU seconds (user+system) used by each process of the stack and by this client, from /proc (Linux)."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.pgdata: Path | None = None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _stat(self, pid: int) -> list[str] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2:].split()  # fields from `state` (field 3) on

    def _own(self, pid: int, children_too: bool = False) -> float:
        f = self._stat(pid)
        if f is None:
            return 0.0
        ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children_too else 0)
        return ticks / self._tick

    def _postgres(self) -> float:
        if self.pgdata is None:
            return math.nan
        try:
            postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return math.nan
        # the postmaster's own time, its reaped backends' time, and its live backends' time
        total = self._own(postmaster, children_too=True)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                f = self._stat(int(entry.name))
                if f is not None and int(f[1]) == postmaster:
                    total += self._own(int(entry.name))
        return total

    def snapshot(self) -> dict[str, float]:
        if not Path("/proc/self/stat").exists():
            return {}
        snap = {name: self._own(pid) for name, pid in self.pids.items()}
        snap["postgres"] = self._postgres()
        times = os.times()
        snap["bench client"] = times.user + times.system
        return snap


METER = CpuMeter()
CORES = os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Direct: the scripted SLM's OpenAI-compatible endpoint


async def direct_turn(http: httpx.AsyncClient, slm_url: str, key: str = "bench", model: str = "scripted") -> Turn:
    """One streamed completion from an OpenAI-compatible endpoint: the scripted SLM itself, a proxy, or Soma's."""
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER_TEXT}],
    }
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    first: float | None = None
    wall = time.time()
    t0 = time.perf_counter()
    async with http.stream("POST", slm_url + "/chat/completions", json=body, headers=headers) as response:
        post_done = time.perf_counter()
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"{slm_url} answered HTTP {response.status_code}: {response.text[:200]}")
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = time.perf_counter()
                if first is None:
                    raise RuntimeError("stream ended without content")
                return Turn(ttft_ms=(first - t0) * 1000, total_ms=(done - t0) * 1000, post_wall=wall,
                            post_done_ms=(post_done - t0) * 1000)
            if first is None and '"content"' in payload:
                chunk = json.loads(payload)
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                    first = time.perf_counter()
    raise RuntimeError("SLM stream closed before [DONE]")


# ---------------------------------------------------------------------------------------------
# Through Soma: POST to the gateway, read the session's SSE stream


class EventStream:
    """A session's SSE stream kept open across turns; reopened after `last_id` when a turn fails."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, session_id: str) -> None:
        self._http = http
        self._url = f"{base_url}/v1/sessions/{session_id}/events"
        self.last_id = 0
        self._response: httpx.Response | None = None
        self._lines = None

    async def open(self) -> None:
        await self.close()
        request = self._http.build_request("GET", self._url, params={"after": self.last_id})
        response = await self._http.send(request, stream=True)
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            raise RuntimeError(f"events: HTTP {response.status_code}: {response.text[:200]}")
        self._response = response
        self._lines = response.aiter_lines()

    async def close(self) -> None:
        if self._response is not None:
            await self._response.aclose()
        self._response = None
        self._lines = None

    async def next_event(self) -> tuple[dict, float]:
        """The next event {id, event, data} and the perf_counter when its blank line arrived."""
        parser = procs.SSEParser()
        assert self._lines is not None
        async for line in self._lines:
            event = parser.feed(line)
            if event is not None:
                stamp = time.perf_counter()
                self.last_id = event.get("id", self.last_id)
                return event, stamp
        raise RuntimeError("event stream closed")


def _reply_to(event: dict) -> int | None:
    data = event.get("data") or {}
    if event["event"] == "assistant.message":
        return (data.get("message") or {}).get("reply_to")
    return data.get("reply_to")


async def _read_turn(stream: EventStream, post: asyncio.Task) -> tuple[list[tuple[dict, float]], int]:
    """Read events (stamped on arrival) until this turn's `assistant.message`; returns them and the message id."""
    seen: list[tuple[dict, float]] = []
    while True:
        event, stamp = await stream.next_event()
        seen.append((event, stamp))
        if event["event"] not in ("assistant.message", "turn.failed"):
            continue
        response = await post
        mine = response.json()["id"]
        if _reply_to(event) != mine:
            continue  # the end of an earlier, timed-out turn of this session
        if event["event"] == "turn.failed":
            raise RuntimeError(f"turn.failed: {event['data'].get('reason')}")
        return seen, mine


async def soma_turn(http: httpx.AsyncClient, base_url: str, session_id: str, stream: EventStream) -> Turn:
    url = f"{base_url}/v1/sessions/{session_id}/messages"
    post_done: list[float] = []
    wall = time.time()
    t0 = time.perf_counter()
    post = asyncio.create_task(http.post(url, json={"content": USER_TEXT}))
    post.add_done_callback(lambda _: post_done.append(time.perf_counter()))
    reader = asyncio.create_task(_read_turn(stream, post))  # reads while the POST is in flight
    try:
        done, _ = await asyncio.wait({post, reader}, return_when=asyncio.FIRST_COMPLETED)
        if post in done:
            response = post.result()  # a failed POST ends the turn now, not at the turn timeout
            if response.status_code != 202:
                raise RuntimeError(f"POST message: HTTP {response.status_code}: {response.text[:200]}")
        seen, mine = await reader
    finally:
        for task in (post, reader):
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved: reported once, through the raise above
    ids: dict[str, int] = {}
    first = None
    for ev, stamp in seen:
        kind = ev["event"]
        if kind == "message.created" and (ev["data"].get("message") or {}).get("id") == mine:
            ids["message.created"] = ev["id"]
        elif _reply_to(ev) == mine:
            if kind == "assistant.delta" and first is None:
                first = (ev, stamp)
                ids["first.delta"] = ev["id"]
            elif kind not in ids and kind != "assistant.delta":
                ids[kind] = ev["id"]
    final_stamp = seen[-1][1]
    if first is None:
        raise RuntimeError("assistant.message without any assistant.delta")
    return Turn(
        ttft_ms=(first[1] - t0) * 1000,
        total_ms=(final_stamp - t0) * 1000,
        session_id=session_id,
        message_id=mine,
        post_wall=wall,
        post_done_ms=(post_done[0] - t0) * 1000 if post_done else math.nan,
        first_delta_wall=wall + (first[1] - t0),
        final_wall=wall + (final_stamp - t0),
        event_ids=ids,
    )


# ---------------------------------------------------------------------------------------------
# Running a level: `concurrency` clients, each doing warm-up turns, then its share of the turns


# Soma's gateway needs credentials; the bench authenticates like an integration, with an API key.
BENCH_KEY = "soma_bench-admin-key-0123456789abcdefghijklmnop"
BENCH_ADMIN = {"Authorization": f"Bearer {BENCH_KEY}"}

async def run_level(mode: str, concurrency: int, turns: int, warmup: int, think: float,
                    gateway_url: str, slm_url: str, deadline: float, litellm_url: str | None = None) -> LevelResult:
    result = LevelResult(mode, concurrency)
    per_client = math.ceil(turns / concurrency)
    barrier = asyncio.Barrier(concurrency)
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them under a POST.
    limits = httpx.Limits(max_connections=2 * concurrency + 4, max_keepalive_connections=2 * concurrency + 4,
                          keepalive_expiry=2.0)
    timeout = httpx.Timeout(TURN_TIMEOUT, connect=5.0)
    started: list[float] = []
    cpu_start: dict[str, float] = {}

    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=BENCH_ADMIN) as http:

        async def one(do, stream: EventStream | None) -> Turn | None:
            try:
                async with asyncio.timeout(TURN_TIMEOUT):
                    return await do()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
                result.errors.append(f"{mode} c={concurrency}: {type(exc).__name__}: {exc}"[:300])
                if stream is not None:
                    try:
                        await stream.open()  # resume after the last event seen
                    except Exception as exc2:  # noqa: BLE001
                        result.errors.append(f"{mode} c={concurrency}: reopening the stream: {exc2}"[:300])
                return None

        async def client() -> None:
            stream: EventStream | None = None
            try:
                if mode == "direct":
                    def do():
                        return direct_turn(http, slm_url)
                elif mode == "litellm":
                    def do():
                        return direct_turn(http, litellm_url, litellm_proxy.KEY)
                elif mode == "openai":
                    def do():  # each request a new chat: one user message, as a stateless client sends it
                        return direct_turn(http, gateway_url + "/v1", BENCH_KEY, "soma")
                else:
                    created = await http.post(gateway_url + "/v1/sessions", json={})
                    created.raise_for_status()
                    session_id = created.json()["id"]
                    stream = EventStream(http, gateway_url, session_id)
                    await stream.open()

                    def do():
                        return soma_turn(http, gateway_url, session_id, stream)

                for _ in range(warmup):
                    await one(do, stream)
                    await asyncio.sleep(think)
            except Exception as exc:  # noqa: BLE001
                result.errors.append(f"{mode} c={concurrency}: setting up a client: {type(exc).__name__}: {exc}")
                do = None
            try:
                async with asyncio.timeout(TURN_TIMEOUT * 2):
                    await barrier.wait()  # every client starts measuring together
            except TimeoutError:
                result.errors.append(f"{mode} c={concurrency}: a client never reached the start line")
            if not started:
                started.append(time.perf_counter())
                cpu_start.update(METER.snapshot())
            try:
                for _ in range(per_client if do else 0):
                    if time.monotonic() > deadline:
                        result.errors.append(f"{mode} c={concurrency}: --max-seconds reached, turn skipped")
                        break
                    turn = await one(do, stream)
                    if turn is not None:
                        result.turns.append(turn)
                    if think:
                        await asyncio.sleep(think)
            finally:
                if stream is not None:
                    await stream.close()

        await asyncio.gather(*(client() for _ in range(concurrency)))
    result.wall_seconds = time.perf_counter() - started[0] if started else 0.0
    cpu_end = METER.snapshot()
    result.cpu = {name: cpu_end[name] - cpu_start[name] for name in cpu_end if name in cpu_start}
    return result


# ---------------------------------------------------------------------------------------------
# Where Soma's time goes: event timestamps from the database (same host clock as the client)


def breakdown(database_url: str, turns: list[Turn]) -> list[tuple[str, list[float]]]:
    import psycopg

    from soma.db import url as db_url

    sessions = sorted({t.session_id for t in turns if t.session_id})
    if not sessions:
        return []
    with psycopg.connect(db_url.for_libpq(database_url)) as conn:
        rows = conn.execute(
            "SELECT session_id::text, id, extract(epoch FROM created_at)::float8 FROM session_events"
            " WHERE session_id = ANY(%s::uuid[])", (sessions,)
        ).fetchall()
        metas = conn.execute(  # the measured turns' answers only, not the warm-up ones
            "SELECT meta || jsonb_build_object('reply_to', reply_to) FROM messages WHERE reply_to = ANY(%s)",
            ([t.message_id for t in turns if t.message_id],),
        ).fetchall()
    created = {(s, i): at for s, i, at in rows}
    # Stored answers' deltas are compacted away (events.compact), so the first delta's own stamp is
    # gone: the worker's meta.timeline below times the stages up to its commit.
    stages: dict[str, list[float]] = {
        "POST sent -> 202 received (client)": [],
        "POST sent -> user message txn start (gateway: HTTP, auth, restore gate)": [],
        "first delta committed -> client receives it (NOTIFY, gateway, SSE; from the timeline)": [],
        "assistant.message txn start -> client receives it": [],
    }
    names = list(stages)
    by_message = {m["reply_to"]: m for (m,) in metas if m}
    for t in turns:
        ids = t.event_ids
        try:
            mc = created[(t.session_id, ids["message.created"])]
            am = created[(t.session_id, ids["assistant.message"])]
        except KeyError:
            continue
        stages[names[0]].append(t.post_done_ms)
        stages[names[1]].append((mc - t.post_wall) * 1000)
        spent = (by_message.get(t.message_id) or {}).get("timeline") or {}
        if all(k in spent for k in ("queue", "prepare")):  # the stages run back to back, but for prepared -> requested (µs)
            committed = mc + sum(spent.get(stage, 0) for stage, _start, _end in timeline.STAGES) / 1000
            stages[names[2]].append((t.first_delta_wall - committed) * 1000)
        stages[names[3]].append((t.final_wall - am) * 1000)
    out = list(stages.items())
    # The turn's own stages (soma.conversations.timeline), as the worker recorded them in meta.timeline.
    for stage, start, end in timeline.STAGES:
        values = [m["timeline"][stage] for (m,) in metas if m and stage in m.get("timeline", {})]
        out.append((f"worker meta.timeline.{stage} ({start} -> {end})", values))
    out.append(("worker meta.total_ms (turn.started -> last SLM piece)",
                [m["total_ms"] for (m,) in metas if m and m.get("total_ms") is not None]))
    return out


# ---------------------------------------------------------------------------------------------
# Printing


LABELS = {"direct": "direct", "litellm": "litellm", "openai": "soma-oai", "soma": "soma"}


def print_level(results: list[LevelResult]) -> None:
    """One table per level: each path's TTFT and total, p50 and p99, and what it adds over direct."""
    direct = results[0]
    print(f"\n=== concurrency {direct.concurrency} ===")
    print("turns measured: " + ", ".join(f"{LABELS[r.mode]} {len(r.turns)} ({len(r.errors)} errors, {r.wall_seconds:.1f}s)" for r in results))
    print(f"{'':18}" + "".join(f"{LABELS[r.mode]:>10}" for r in results) + "".join(f"{'+' + LABELS[r.mode]:>12}" for r in results[1:]))
    for label, attr in (("TTFT", "ttft_ms"), ("total", "total_ms")):
        for q in (50, 99):
            values = [stats.percentile([getattr(t, attr) for t in r.turns], q) for r in results]
            added = "".join(f"{v - values[0]:12.1f}" for v in values[1:])
            print(f"{label + f' p{q} (ms)':18}" + "".join(f"{v:10.1f}" for v in values) + added)
    for r in results:
        if r.cpu and r.turns:
            parts = ", ".join(f"{name} {sec:.2f}s" for name, sec in r.cpu.items() if sec == sec)
            print(f"CPU while measuring {LABELS[r.mode]}: {parts}  ({CORES} cores = {CORES * r.wall_seconds:.1f} core-s available)")
            soma_cpu = sum(sec for name, sec in r.cpu.items() if name in ("gateway", "postgres") or name.startswith("worker"))
            if r.mode in ("soma", "openai"):  # compare runs with different --chunks: the per-token cost is the slope
                print(f"  Soma's CPU per turn ({LABELS[r.mode]}: gateway + worker + PostgreSQL): {soma_cpu / len(r.turns) * 1000:.1f} ms")
    errors = [e for r in results for e in r.errors]
    for err in errors[:10]:
        print(f"  error: {err}")
    if len(errors) > 10:
        print(f"  … {len(errors) - 10} more errors")


def print_breakdown(c: int, stages: list[tuple[str, list[float]]]) -> None:
    if not stages:
        return
    print(f"\nwhere the time goes through soma, concurrency {c} (ms; DB txn-start stamps vs client wall clock):")
    print(f"  {'p50':>8}{'p99':>9}  stage")
    for name, values in stages:
        if values:
            print(f"  {stats.percentile(values, 50):8.1f}{stats.percentile(values, 99):9.1f}  {name}")


# ---------------------------------------------------------------------------------------------
# Setting up and tearing down the stack


class Latency(Stack):
    """The scripted SLM, LiteLLM proxy if asked, one gateway and `workers` workers, each process's CPU metered (METER)."""

    def __init__(self, tmp: Path, chunks: int, chunk_delay: float, worker_concurrency: int | None, workers: int,
                 profile_dir: Path | None = None) -> None:  # fmt: skip
        super().__init__(tmp, profile_dir)
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.worker_concurrency = worker_concurrency
        self.workers = workers
        self.slm: procs.ScriptedSLM | None = None
        self.litellm_url: str | None = None

    def start(self, litellm: bool = False) -> None:
        print("starting embedded PostgreSQL …", flush=True)
        self.start_database()
        METER.pgdata = self.pgdata
        chunks = [("Tok" if i == 0 else " tok") + str(i) for i in range(self.chunks)]
        self.slm = self.start_slm({"chunks": chunks, "delay": self.chunk_delay})

        if litellm:
            print("starting the LiteLLM proxy …", flush=True)
            self.litellm_url = litellm_proxy.start(self.launcher, self.slm.base_url, self.tmp)
            METER.pids["litellm"] = self.launcher.procs[-1].popen.pid

        settings: dict[str, object] = {"bootstrap_admin_key": BENCH_KEY}
        if self.worker_concurrency is not None:
            settings["worker_concurrency"] = self.worker_concurrency
        print("starting soma gateway and worker …", flush=True)
        gateway = self.start_gateway(self.soma_env(self.slm, **settings))
        workers = self.start_workers(self.soma_env(self.slm, worker_metrics_port=0, **settings), self.workers)
        METER.pids.update({"gateway": gateway.popen.pid, "slm": self.slm.proc.popen.pid})
        METER.pids.update({f"worker{n + 1}" if self.workers > 1 else "worker": w.popen.pid for n, w in enumerate(workers)})


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=50, help="turns measured per concurrency level and path (default 50)")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrency levels (default 1,16,64)")
    parser.add_argument("--workers", type=int, default=1, help="soma worker processes (default 1)")
    parser.add_argument("--worker-concurrency", type=int, default=None,
                        help="SOMA_WORKER_CONCURRENCY for the worker (default: Soma's own default)")
    parser.add_argument("--chunks", type=int, default=20, help="tokens (SSE chunks) per answer (default 20)")
    parser.add_argument("--chunk-delay", type=float, default=0.01, help="seconds between SLM chunks (default 0.01)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured turns per client before measuring (default 2)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds a client waits after an answer before its next turn (default 0)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="run gateway and worker under cProfile, write DIR/{gateway,worker}.prof and print "
                             "their top functions (slows Soma down; use for attribution, not for the figures)")
    parser.add_argument("--no-litellm", action="store_true",
                        help="leave out LiteLLM proxy (installed on first use into bench/.litellm-venv)")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop starting new turns after this long (default 600)")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not args.levels or min(args.levels) < 1 or args.turns < 1 or args.chunks < 1:
        parser.error("--turns, --chunks and every --concurrency level must be at least 1")
    return args


async def measure(args: argparse.Namespace, stack: Latency) -> None:
    deadline = time.monotonic() + args.max_seconds
    for c in args.levels:
        print(f"\nmeasuring concurrency {c}: {args.turns} turns per path …", flush=True)
        common = dict(concurrency=c, turns=args.turns, warmup=args.warmup, think=args.think,
                      gateway_url=stack.url, slm_url=stack.slm.base_url, deadline=deadline, litellm_url=stack.litellm_url)
        results = [await run_level("direct", **common)]
        if stack.litellm_url:
            results.append(await run_level("litellm", **common))
        results.append(await run_level("openai", **common))
        soma = await run_level("soma", **common)
        print_level([*results, soma])
        print_breakdown(c, breakdown(stack.database_url, soma.turns))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    worker_concurrency = args.worker_concurrency
    print(f"turn latency: chunks={args.chunks} chunk_delay={args.chunk_delay}s turns/level={args.turns} "
          f"concurrency={args.levels} warmup/client={args.warmup} think={args.think}s "
          f"worker_concurrency={worker_concurrency or 'default'}")

    unwind_on(signal.SIGTERM)
    profile_dir = args.profile.resolve() if args.profile else None
    with running("soma-bench-", lambda tmp: Latency(tmp, args.chunks, args.chunk_delay, worker_concurrency, args.workers, profile_dir)) as stack:
        stack.start(litellm=not args.no_litellm)
        asyncio.run(measure(args, stack))
    if args.profile:
        print_profiles(args.profile)
    return 0


def print_profiles(folder: Path, top: int = 15) -> None:
    import pstats

    for name in ("gateway", "worker"):
        path = folder / f"{name}.prof"
        if not path.exists():
            print(f"\nno profile written for the {name} at {path}")
            continue
        print(f"\n=== cProfile of the {name}: top {top} by own time ({path}) ===")
        pstats.Stats(str(path), stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
