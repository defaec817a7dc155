"""Soma's overhead per tool step: the time from the SLM's answer asking for a tool to Soma's next request, less the tool's own time.

Run from the repository root:

    .venv/bin/python -m bench.tool_steps [--tool remember] [--steps 10] [--turns 10] [--concurrency 1,16] [--chunks 5] [--chunk-delay 0]

Everything runs as real processes on 127.0.0.1 (bench/stack.py): an embedded PostgreSQL, the
scripted SLM, one `soma gateway` and one `soma worker`. The SLM answers every request with a few
chunks and one call of the tool under test, so with `max_tool_steps` = --steps each turn takes
--steps requests: --steps − 1 tool steps, and a last request that offers no tools (the loop takes
its text as the answer). Each client owns a chat, posts a message and reads the chat's event stream
until the answer, as the web UI does.

For each step k of a turn, from the scripted SLM's own clock (it records when each request came
and when its answer's last byte went) and the step's `tool.finished` event (the tool's own time):

    overhead = (request k+1 came) − (answer k's last byte went) − (the tool's duration_ms)

that is reading the answer, recording the calls durably, running them (less the tool), recording
the results durably and sending the next request. A turn's total is compared with the sum of its SLM
and tool times. A tool is a parameter (ToolCase): the built-ins now; an MCP tool (and calling it
directly with the SDK beside, `direct`) is one more case. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.stack import Stack, running, unwind_on  # noqa: E402
from bench.turn_latency import BENCH_ADMIN, BENCH_KEY, EventStream, print_profiles  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

TURN_TIMEOUT = 120.0  # seconds one turn of many steps may take before it counts as an error


@dataclass(frozen=True)
class ToolCase:
    """A tool the SLM calls at every step: its function name, its arguments, and what must exist for Soma to offer it."""

    function: str
    arguments: dict
    prepare: Callable[[httpx.Client, str], None] = lambda client, url: None
    # Calls the same tool without Soma, for a figure beside it (an MCP tool through the SDK); None for built-ins.
    direct: Callable[[], Awaitable[float]] | None = None


def _one_memory(client: httpx.Client, url: str) -> None:
    client.post(url + "/v1/memories", json={"content": "The benchmark's user likes tea."}).raise_for_status()


CASES = {
    "remember": ToolCase("remember", {"content": "The benchmark's user likes tea."}),  # merges into one memory each time
    "search_memory": ToolCase("search_memory", {"query": "What does the user like?"}, _one_memory),
    # One DELETE that finds nothing: a tool that costs a database round trip and no embedding, whose
    # CPU (the embedding model's threads) would otherwise share the cores with Soma's own work.
    "forget_missing": ToolCase("forget", {"id": 2**62}),
}


@dataclass
class Level:
    """What one concurrency level measured."""

    concurrency: int
    texts: list[str] = field(default_factory=list)  # the measured turns' messages
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


async def one_turn(http: httpx.AsyncClient, url: str, session_id: str, stream: EventStream, text: str) -> None:
    """Post `text` and read the chat's events until its answer (or its failure)."""
    response = await http.post(f"{url}/v1/sessions/{session_id}/messages", json={"content": text})
    response.raise_for_status()
    mine = response.json()["id"]
    while True:
        event, _ = await stream.next_event()
        data = event.get("data") or {}
        if event["event"] == "assistant.message" and data["message"]["reply_to"] == mine:
            return
        if event["event"] == "turn.failed" and data.get("reply_to") == mine:
            raise RuntimeError(f"turn.failed: {data.get('reason')}")


async def run_level(url: str, concurrency: int, turns: int) -> Level:
    """`concurrency` clients, each with a warm-up turn, then `turns` measured turns among them."""
    level = Level(concurrency)
    per_client = max(1, turns // concurrency)
    limits = httpx.Limits(max_connections=2 * concurrency + 4, keepalive_expiry=2.0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(TURN_TIMEOUT, connect=5.0), headers=BENCH_ADMIN) as http:

        async def client(n: int, barrier: asyncio.Barrier) -> None:
            session_id = (await http.post(url + "/v1/sessions", json={})).json()["id"]
            stream = EventStream(http, url, session_id)
            await stream.open()
            try:
                await one_turn(http, url, session_id, stream, f"warm-up c{concurrency} client {n}")
                await barrier.wait()
                for i in range(per_client):
                    text = f"bench c{concurrency} client {n} turn {i}"
                    try:
                        async with asyncio.timeout(TURN_TIMEOUT):
                            await one_turn(http, url, session_id, stream, text)
                        level.texts.append(text)
                    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
                        level.errors.append(f"{text}: {type(exc).__name__}: {exc}"[:300])
                        await stream.open()
            finally:
                await stream.close()

        barrier = asyncio.Barrier(concurrency + 1)
        clients = [asyncio.create_task(client(n, barrier)) for n in range(concurrency)]
        await barrier.wait()
        started = time.perf_counter()
        await asyncio.gather(*clients)
        level.wall_seconds = time.perf_counter() - started
    return level


def analyse(stack: Stack, slm: procs.ScriptedSLM, texts: list[str]) -> tuple[list[float], list[tuple[float, float, float]]]:
    """Each step's overhead (ms), and each turn's (total, SLM, tool) ms."""
    wanted = set(texts)
    by_turn: dict[str, list[dict]] = {}
    for request in slm.requests():
        last_user = next(m["content"] for m in reversed(request["body"]["messages"]) if m["role"] == "user")
        if last_user in wanted:
            by_turn.setdefault(last_user, []).append(request)
    message_ids = dict(stack.sql("SELECT content, id FROM messages WHERE role = 'user' AND content = ANY(%s)", list(wanted)))
    tool_ms: dict[tuple[int, int], float] = {}
    for (data,) in stack.sql("SELECT data FROM session_events WHERE type = 'tool.finished'"):
        tool_ms[(data["reply_to"], data["step"])] = tool_ms.get((data["reply_to"], data["step"]), 0.0) + (data["duration_ms"] or 0.0)
    overheads: list[float] = []
    totals: list[tuple[float, float, float]] = []
    for text, requests in by_turn.items():
        requests.sort(key=lambda r: r["at"])
        reply_to = message_ids[text]
        slm_ms = sum((r["done"] - r["at"]) * 1000 for r in requests)
        tools = 0.0
        for step, (asked, following) in enumerate(zip(requests, requests[1:], strict=False), 1):
            took = tool_ms.get((reply_to, step), 0.0)
            tools += took
            overheads.append((following["at"] - asked["done"]) * 1000 - took)
        totals.append(((requests[-1]["done"] - requests[0]["at"]) * 1000, slm_ms, tools))
    return overheads, totals


def report(level: Level, overheads: list[float], totals: list[tuple[float, float, float]]) -> None:
    print(f"\n=== concurrency {level.concurrency}: {len(level.texts)} turns, {len(overheads)} tool steps, "
          f"{len(level.errors)} errors, {level.wall_seconds:.1f} s ===")  # fmt: skip
    print(f"Soma's overhead per tool step: p50 {stats.percentile(overheads, 50):.2f} ms, p99 {stats.percentile(overheads, 99):.2f} ms")
    if totals:
        turn, slm, tool = (stats.median([t[i] for t in totals]) for i in range(3))
        added = [(t[0] - t[1] - t[2]) / (t[1] + t[2]) * 100 for t in totals if t[1] + t[2] > 0]
        print(f"a turn (median): {turn:.1f} ms in all; its SLM requests {slm:.1f} ms, its tool runs {tool:.1f} ms; "
              f"Soma adds {stats.median(added):.1f} % to their sum (p99 {stats.percentile(added, 99):.1f} %)")  # fmt: skip
    for error in level.errors[:5]:
        print(f"  error: {error}")


async def measure(args: argparse.Namespace, stack: Stack, slm: procs.ScriptedSLM, case: ToolCase) -> None:
    for concurrency in args.levels:
        print(f"\nmeasuring concurrency {concurrency}: {args.turns} turns of {args.steps} steps …", flush=True)
        level = await run_level(stack.url, concurrency, args.turns)
        report(level, *analyse(stack, slm, level.texts))
    if case.direct is not None:
        times = [await case.direct() for _ in range(args.turns)]
        print(f"\nthe same tool called directly: p50 {stats.percentile(times, 50):.2f} ms, p99 {stats.percentile(times, 99):.2f} ms")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", choices=sorted(CASES), default="remember", help="the tool every step calls (default remember)")
    parser.add_argument("--steps", type=int, default=10, help="max_tool_steps: SLM requests per turn (default 10)")
    parser.add_argument("--turns", type=int, default=10, help="turns measured per concurrency level (default 10)")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated concurrency levels (default 1,16)")
    parser.add_argument("--chunks", type=int, default=5, help="text chunks in each SLM answer (default 5)")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between SLM chunks (default 0)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="run gateway and worker under cProfile and print the worker's top functions (slows Soma down)")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not args.levels or min(args.levels) < 1 or args.turns < 1 or not 2 <= args.steps <= 50:
        parser.error("--turns and every --concurrency level must be at least 1, --steps from 2 to 50")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    case = CASES[args.tool]
    print(f"tool steps: tool={args.tool} steps/turn={args.steps} turns/level={args.turns} concurrency={args.levels} "
          f"chunks={args.chunks} chunk_delay={args.chunk_delay}s")  # fmt: skip
    unwind_on(signal.SIGTERM)
    profile_dir = args.profile.resolve() if args.profile else None
    with running("soma-bench-tools-", lambda tmp: Stack(tmp, profile_dir)) as stack:
        stack.start_database()
        answer = {
            "chunks": [f"step{i} " for i in range(args.chunks)], "delay": args.chunk_delay,
            "tool_calls": [{"name": case.function, "arguments": case.arguments}],
        }  # fmt: skip
        slm = stack.start_slm(answer)
        env = stack.soma_env(slm, bootstrap_admin_key=BENCH_KEY)
        stack.start_gateway(env)
        stack.start_workers(stack.soma_env(slm, bootstrap_admin_key=BENCH_KEY, worker_metrics_port=0))
        with httpx.Client(headers=BENCH_ADMIN, timeout=30) as client:
            client.put(stack.url + "/v1/settings", json={"max_tool_steps": args.steps}).raise_for_status()
            case.prepare(client, stack.url)
        asyncio.run(measure(args, stack, slm, case))
    if profile_dir is not None:
        print_profiles(profile_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
