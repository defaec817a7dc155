"""Soma's overhead per tool step: the time from the SLM's answer asking for a tool to Soma's next request, less the tool's own time.

Run from the repository root:

    .venv/bin/python -m bench.tool_steps [--tool remember|search_memory|forget_missing|mcp_add|run_code] [--steps 10] [--turns 10]
                                         [--concurrency 1,16] [--chunks 5] [--chunk-delay 0] [--profile DIR]

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
and tool times. A tool is a parameter (ToolCase): a built-in, or `mcp_add`, the `add` tool of the
SDK-written scripted MCP server (tests/mcp_servers/scripted.py) over stdio, which the worker keeps a
connection to. For an MCP tool the same tool is also called directly with the SDK (`mcp.Client`
over its own stdio process, `direct`), at each level's concurrency on one session as Soma's worker
has one, so its time is printed beside the tool time Soma recorded. Before measuring, one turn must
see every call succeed (the worker connects to a server in the background). It prints figures and
the machine's load average; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
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
from bench.turn_latency import BENCH_ADMIN, BENCH_KEY, CpuMeter, EventStream, print_profiles  # noqa: E402
from tests import procs, sandboxes  # noqa: E402  (needs the repo root on sys.path)

TURN_TIMEOUT = 120.0  # seconds one turn of many steps may take before it counts as an error
READY_TIMEOUT = 60.0  # seconds for the worker to offer the tool (an MCP server is connected in the background)
GOAL_STEP_MS = 5.0  # the goal for the overhead per step, p50 at concurrency 1
GOAL_TURN_PERCENT = 10.0  # and for a 10-step turn: at most this much above the sum of its SLM and tool times
SCRIPTED_MCP = ROOT / "tests" / "mcp_servers" / "scripted.py"
ADD = {"a": 2, "b": 3}


@dataclass(frozen=True)
class ToolCase:
    """A tool the SLM calls at every step: its function name, its arguments, and what must exist for Soma to offer it."""

    function: str
    arguments: dict
    prepare: Callable[[httpx.Client, str], None] = lambda client, url: None
    # direct(concurrency, calls): the ms of each of `calls` calls of the same tool without Soma, `concurrency`
    # at a time (an MCP tool through the SDK), for a figure beside Soma's; None for built-ins.
    direct: Callable[[int, int], Awaitable[list[float]]] | None = None
    # The `error` every call should end with: None for a call that works; a call ending otherwise is reported.
    expected_error: str | None = None
    sandbox: bool = False  # the worker needs `soma sandbox` (run_code): one is started beside it


def _one_memory(client: httpx.Client, url: str) -> None:
    client.post(url + "/v1/memories", json={"content": "The benchmark's user likes tea."}).raise_for_status()


def _scripted_server(client: httpx.Client, url: str) -> None:
    """Configure the scripted MCP server (stdio); the gateway answers once its probe connected."""
    entry = {"transport": "stdio", "command": sys.executable, "args": [str(SCRIPTED_MCP)], "env": {}}
    response = client.put(url + "/v1/tools/servers/scripted", json=entry)
    response.raise_for_status()
    if response.json()["state"] != "connected":
        raise RuntimeError(f"the scripted MCP server did not connect: {response.json()['error']}")


async def _add_directly(concurrency: int, calls: int) -> list[float]:
    """`calls` calls of the scripted server's `add` through the SDK alone, over one stdio session, `concurrency` at a time."""
    from mcp import Client, StdioServerParameters  # only this case needs the SDK

    times: list[float] = []
    async with Client(StdioServerParameters(command=sys.executable, args=[str(SCRIPTED_MCP)])) as client:
        await client.call_tool("add", ADD)  # the first call of a session pays for more than a call

        async def caller(count: int) -> None:
            for _ in range(count):
                began = time.perf_counter()
                result = await client.call_tool("add", ADD)
                times.append((time.perf_counter() - began) * 1000)
                if result.is_error:
                    raise RuntimeError(f"add failed: {result.content}")

        share, extra = divmod(calls, concurrency)
        await asyncio.gather(*(caller(share + (n < extra)) for n in range(concurrency)))
    return times


CASES = {
    "remember": ToolCase("remember", {"content": "The benchmark's user likes tea."}),  # merges into one memory each time
    "search_memory": ToolCase("search_memory", {"query": "What does the user like?"}, _one_memory),
    # One DELETE that finds nothing: a tool that costs a database round trip and no embedding, whose
    # CPU (the embedding model's threads) would otherwise share the cores with Soma's own work.
    "forget_missing": ToolCase("forget", {"id": 2**62}, expected_error="not_found"),
    # An MCP tool that does next to nothing, so what is measured is the path to it and back.
    "mcp_add": ToolCase("scripted__add", ADD, _scripted_server, _add_directly),
    # The tool's time is a run's, tool call to result: the chat's files read, a fresh jail, print(1), the files written back.
    "run_code": ToolCase("run_code", {"language": "python", "code": "print(1)"}, sandbox=True),
}


@dataclass
class Level:
    """What one concurrency level measured."""

    concurrency: int
    texts: list[str] = field(default_factory=list)  # the measured turns' messages
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds each process used while measuring


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


def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (a worker's stdio MCP servers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def meter(stack: Stack, slm: procs.ScriptedSLM) -> CpuMeter:
    """A CPU meter of the gateway, the worker, its MCP servers, PostgreSQL and the scripted SLM."""
    cpu = CpuMeter()
    cpu.pgdata = stack.pgdata
    for proc in stack.launcher.procs:
        if proc.name in ("gateway", "worker"):
            cpu.pids[proc.name] = proc.popen.pid
    cpu.pids["slm"] = slm.proc.popen.pid
    for n, child in enumerate(_children(cpu.pids["worker"]), 1):
        cpu.pids[f"mcp server {n}"] = child
    return cpu


async def run_level(url: str, concurrency: int, turns: int, cpu: CpuMeter) -> Level:
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
        before = cpu.snapshot()
        started = time.perf_counter()
        await asyncio.gather(*clients)
        level.wall_seconds = time.perf_counter() - started
        # A process gone meanwhile (an MCP server restarted) reads 0: its figure would mean nothing.
        level.cpu = {name: seconds - before[name] if seconds >= before.get(name, math.inf) else math.nan for name, seconds in cpu.snapshot().items()}
    return level


@dataclass
class Figures:
    """What the records of a level's turns say."""

    overheads: list[float] = field(default_factory=list)  # ms per tool step
    totals: list[tuple[float, float, float]] = field(default_factory=list)  # per turn: (total, SLM, tool) ms
    tool_times: list[float] = field(default_factory=list)  # each call's duration_ms, as Soma recorded it
    failed_calls: list[str] = field(default_factory=list)  # a call that did not succeed measures something else
    # Where a step's overhead goes (ms), split at the start of the statements recording its calls
    # (`created_at` is now(), the statement's start in autocommit, on the same clock as the SLM's):
    # from the answer's last byte to recording the calls; from there to recording their results, less
    # the tools' time (the first commit waiting for the disk, and the tool's path in Soma); from
    # there to the next request (the second commit waiting for the disk, building and sending it).
    parts: dict[str, list[float]] = field(default_factory=lambda: {"to_started": [], "started_to_finished": [], "finished_to_next": []})


def analyse(stack: Stack, slm: procs.ScriptedSLM, texts: list[str], case: ToolCase) -> Figures:
    """Each step's overhead, each turn's total beside its SLM and tool times, and each call's own time."""
    figures = Figures()
    wanted = set(texts)
    by_turn: dict[str, list[dict]] = {}
    for request in slm.requests():
        last_user = next(m["content"] for m in reversed(request["body"]["messages"]) if m["role"] == "user")
        if last_user in wanted:
            by_turn.setdefault(last_user, []).append(request)
    message_ids = dict(stack.sql("SELECT content, id FROM messages WHERE role = 'user' AND content = ANY(%s)", list(wanted)))
    measured = set(message_ids.values())
    tool_ms: dict[tuple[int, int], float] = {}
    started_at: dict[tuple[int, int], float] = {}  # the first call of the step recorded
    finished_at: dict[tuple[int, int], float] = {}  # the last call of the step recorded
    rows = stack.sql("SELECT type, data, extract(epoch FROM created_at) FROM session_events WHERE type IN ('tool.started', 'tool.finished') ORDER BY id")
    for type_, data, at in rows:
        key = (data["reply_to"], data["step"])
        if data["reply_to"] not in measured:
            continue
        if type_ == "tool.started":
            started_at.setdefault(key, float(at))
            continue
        finished_at[key] = float(at)
        tool_ms[key] = tool_ms.get(key, 0.0) + (data["duration_ms"] or 0.0)
        figures.tool_times.append(data["duration_ms"] or 0.0)
        if data.get("error") != case.expected_error:
            figures.failed_calls.append(f"{data['name']}: {data['error']}: {data['result']}"[:300])
    for text, requests in by_turn.items():
        requests.sort(key=lambda r: r["at"])
        reply_to = message_ids[text]
        slm_ms = sum((r["done"] - r["at"]) * 1000 for r in requests)
        tools = 0.0
        for step, (asked, following) in enumerate(zip(requests, requests[1:], strict=False), 1):
            took = tool_ms.get((reply_to, step), 0.0)
            tools += took
            figures.overheads.append((following["at"] - asked["done"]) * 1000 - took)
            key = (reply_to, step)
            if key in started_at and key in finished_at:
                figures.parts["to_started"].append((started_at[key] - asked["done"]) * 1000)
                figures.parts["started_to_finished"].append((finished_at[key] - started_at[key]) * 1000 - took)
                figures.parts["finished_to_next"].append((following["at"] - finished_at[key]) * 1000)
        figures.totals.append(((requests[-1]["done"] - requests[0]["at"]) * 1000, slm_ms, tools))
    return figures


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _p50_p99(values: list[float]) -> str:
    return f"p50 {stats.percentile(values, 50):.2f} ms, p99 {stats.percentile(values, 99):.2f} ms" if values else "none"


def report(level: Level, figures: Figures, direct: list[float] | None) -> None:
    overheads, totals = figures.overheads, figures.totals
    print(f"\n=== concurrency {level.concurrency}: {len(level.texts)} turns, {len(overheads)} tool steps, "
          f"{len(level.errors)} errors, {len(figures.failed_calls)} failed calls, {level.wall_seconds:.1f} s; {_load()} ===")  # fmt: skip
    print(f"Soma's overhead per tool step: {_p50_p99(overheads)} (the issue's goal: p50 at most {GOAL_STEP_MS:g} ms at concurrency 1)")
    if figures.parts["to_started"]:
        split = ", ".join(f"{name} {stats.percentile(values, 50):.2f}" for name, values in figures.parts.items())
        print(f"  where it goes (p50, ms): {split}")
    print(f"the tool's own time, as Soma recorded it (duration_ms): {_p50_p99(figures.tool_times)}")
    if direct is not None:
        print(f"the same tool called directly with the SDK, {level.concurrency} at a time: {_p50_p99(direct)}")
    if totals:
        turn, slm, tool = (stats.median([t[i] for t in totals]) for i in range(3))
        added = [(t[0] - t[1] - t[2]) / (t[1] + t[2]) * 100 for t in totals if t[1] + t[2] > 0]
        print(f"a turn (median): {turn:.1f} ms in all; its SLM requests {slm:.1f} ms, its tool runs {tool:.1f} ms; "
              f"Soma adds {stats.median(added):.1f} % to their sum (p99 {stats.percentile(added, 99):.1f} %; the goal: at most {GOAL_TURN_PERCENT:g} %)")  # fmt: skip
    if level.texts and level.cpu:
        per_turn = ", ".join(f"{name} {seconds * 1000 / len(level.texts):.1f}" for name, seconds in level.cpu.items())
        print(f"CPU per turn (ms): {per_turn}")
    for error in level.errors[:5]:
        print(f"  error: {error}")
    for failed in figures.failed_calls[:5]:
        print(f"  failed call: {failed}")


async def measure(args: argparse.Namespace, stack: Stack, slm: procs.ScriptedSLM, case: ToolCase) -> None:
    cpu = meter(stack, slm)
    for concurrency in args.levels:
        print(f"\nmeasuring concurrency {concurrency}: {args.turns} turns of {args.steps} steps; {_load()} …", flush=True)
        level = await run_level(stack.url, concurrency, args.turns, cpu)
        figures = analyse(stack, slm, level.texts, case)
        direct = await case.direct(concurrency, len(figures.tool_times)) if case.direct is not None and figures.tool_times else None
        report(level, figures, direct)


def wait_until_offered(stack: Stack, case: ToolCase) -> None:
    """Run turns until one has every call succeed: the worker offers the tool (it connects to MCP servers in the background)."""
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(headers=BENCH_ADMIN, timeout=TURN_TIMEOUT) as client:
        while True:
            session_id = client.post(stack.url + "/v1/sessions", json={}).json()["id"]
            client.post(f"{stack.url}/v1/sessions/{session_id}/messages", json={"content": "ready?"}).raise_for_status()
            events = procs.read_events(client, f"{stack.url}/v1/sessions/{session_id}/events?after=0", procs.has_event("assistant.message"), timeout=TURN_TIMEOUT)
            failed = [e["data"]["result"] for e in events if e["event"] == "tool.finished" and e["data"].get("error") != case.expected_error]
            if not failed:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not offer the tool within {READY_TIMEOUT:g} s: {failed[0]}")
            time.sleep(0.5)  # a poll's pace, while the worker connects


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
        reach = {}
        if case.sandbox:
            service = sandboxes.start(stack.launcher)
            reach = {"sandbox_url": service.url, "sandbox_key": service.key}
        stack.start_workers(stack.soma_env(slm, bootstrap_admin_key=BENCH_KEY, worker_metrics_port=0, **reach))
        with httpx.Client(headers=BENCH_ADMIN, timeout=30) as client:
            client.put(stack.url + "/v1/settings", json={"max_tool_steps": args.steps}).raise_for_status()
            case.prepare(client, stack.url)
        wait_until_offered(stack, case)
        asyncio.run(measure(args, stack, slm, case))
    if profile_dir is not None:
        print_profiles(profile_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
