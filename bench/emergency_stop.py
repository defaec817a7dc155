"""How fast `soma emergency-stop` takes Soma dark: open event streams closed, the API locked, cloudflared gone.

Run from the repository root:

    .venv/bin/python -m bench.emergency_stop [--runs 5] [--streams 100] [--turns 16]

It starts, all on 127.0.0.1: an embedded PostgreSQL in a temporary directory (migrated with
`soma.db.migrate.upgrade`), tests/scripted_slm.py answering slowly (one chunk every 0.1 s for a
minute), one `soma gateway`, one `soma worker` (SOMA_WORKER_CONCURRENCY = --turns) and one
`soma tunnel run` with SOMA_CLOUDFLARED pointing to tests/fake_cloudflared.py. An admin with a
password is created once and SOMA_PUBLIC_URL is set, so `soma tunnel on --mode quick` is allowed.

Each run: `soma keys create` makes a new admin key (the previous stop revoked the last one),
`soma tunnel on --mode quick` opens the tunnel and the run waits for the supervisor to report it
connected; --turns new chats each get one message and the run waits until every turn streams;
--streams SSE clients follow those chats' /v1/sessions/{id}/events, spread evenly; one poller
asks GET /v1/sessions every 5 ms. Then it spawns `soma emergency-stop --reason bench --yes` and
times, from the spawn (so Python's start-up is included, as an operator pays it):

    lockdown row     the lockdown row's started_at (PostgreSQL's clock, the same host's): what
                     precedes it is the command's start-up and connecting
    streams closed   the last event stream the server closed
    first 503        the poller's first 503 with error code `lockdown`
    all 503          the first 503 after which the poller saw nothing else
    cloudflared      the fake cloudflared process gone (polled in /proc every 5 ms)
    command          `soma emergency-stop` exiting

Between runs `soma emergency-stop --lift --reason bench` ends the lockdown. It prints p50 and max
of each over the runs, the last stop's own step report, and, as the baseline, the issue's goal of
2 s with each p50 as a fraction of it. Figures only; nothing is asserted. Everything it started is
stopped at the end, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.stack import Stack, running, unwind_on  # noqa: E402
from soma.auth import passwords  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

FAKE_CLOUDFLARED = str(ROOT / "tests" / "fake_cloudflared.py")
PUBLIC_URL = "https://soma.example.org"
GOAL = 2.0  # seconds, issue 12's goal for each figure
SLOW_ANSWER = {"chunks": [f"word{n} " for n in range(600)], "delay": 0.1}  # a minute of streaming: still running at the stop
POLL = 0.005  # seconds between the poller's requests and between /proc checks
WAIT = 60.0  # seconds any set-up step may take before the run fails
FIGURES = ("lockdown row", "streams closed", "first 503", "all 503", "cloudflared", "command")


class Stop(Stack):
    """The stack a stop takes dark: PostgreSQL, the scripted SLM, a gateway, a worker and the tunnel supervisor, started once."""

    def __init__(self, tmp: Path, turns: int) -> None:
        super().__init__(tmp)
        self.turns = turns
        self.record = tmp / "cloudflared.jsonl"
        self.env: dict[str, str] = {}

    def start(self) -> None:
        print("starting embedded PostgreSQL, the scripted SLM, soma gateway, worker and tunnel run …", flush=True)
        self.start_database()
        slm = self.start_slm(SLOW_ANSWER)
        self.env = self.soma_env(
            slm, worker_concurrency=self.turns, public_url=PUBLIC_URL, cloudflared=FAKE_CLOUDFLARED, tunnel_metrics_port=0,
            data_dir=self.tmp / "soma",
        )  # fmt: skip
        self.env["FAKE_CLOUDFLARED_RECORD"] = str(self.record)
        self.sql("INSERT INTO users (username, password_hash, role) VALUES ('bench', %s, 'admin')",
                 passwords.hash_password("bench-password-0123456789"))  # fmt: skip
        self.start_gateway(self.env)
        self.start_workers(self.env)
        self.launcher.start("tunnel", [sys.executable, "-m", "soma", "tunnel", "run"], self.env)

    def soma(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = procs.run_soma(self.env, *args)
        if done.returncode != 0:
            raise SystemExit(f"`soma {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def cloudflared_pid(self) -> int | None:
        """The pid of the newest fake cloudflared, from its record file."""
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        starts = [e["pid"] for e in map(json.loads, lines) if e["event"] == "start"]
        return starts[-1] if starts else None


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def prepare(stack: Stop, turns: int) -> tuple[str, list[str], int]:
    """A new admin key, the tunnel connected, `turns` chats streaming; returns the key, the chats and cloudflared's pid."""
    key = stack.soma("keys", "create", "--name", f"bench {time.time():.0f}", "--scope", "admin", "--scope", "chat").stdout.strip()
    stack.soma("tunnel", "on", "--mode", "quick")
    procs.wait_until(lambda: stack.sql("SELECT state FROM tunnel_state")[0][0] == "connected", WAIT, "the tunnel to connect")
    pid = stack.cloudflared_pid()
    assert pid is not None and _alive(pid), "no fake cloudflared runs"
    headers = {"Authorization": f"Bearer {key}"}
    sessions: list[str] = []
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        for _ in range(turns):
            sessions.append(client.post("/v1/sessions", json={}).raise_for_status().json()["id"])
            client.post(f"/v1/sessions/{sessions[-1]}/messages", json={"content": "Talk slowly."}).raise_for_status()
    streaming = "SELECT count(DISTINCT session_id) FROM session_events WHERE type = 'assistant.delta' AND session_id::text = ANY(%s)"
    procs.wait_until(lambda: stack.sql(streaming, sessions)[0][0] == turns, WAIT, f"{turns} turns to stream")
    return key, sessions, pid


async def follow(client: httpx.AsyncClient, path: str, opened: asyncio.Event, closed: list[float]) -> None:
    """Hold one event stream open until the server closes it; note when."""
    async with client.stream("GET", path, timeout=httpx.Timeout(5, read=None)) as response:
        opened.set()
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        async for _ in response.aiter_raw():
            pass
    closed.append(time.monotonic())


async def poll(client: httpx.AsyncClient, answers: list[tuple[float, bool]], done: asyncio.Event) -> None:
    """GET /v1/sessions every POLL seconds, noting each answer as (when, a lockdown 503 or not)."""
    while not done.is_set():
        try:
            response = await client.get("/v1/sessions", timeout=5)
            locked = response.status_code == 503 and response.json().get("error", {}).get("code") == "lockdown"
        except httpx.HTTPError:
            locked = False
        answers.append((time.monotonic(), locked))
        await asyncio.sleep(POLL)


async def watch_gone(pid: int) -> float:
    while _alive(pid):
        await asyncio.sleep(POLL)
    return time.monotonic()


async def one_run(stack: Stop, streams: int, turns: int) -> tuple[dict[str, float], str]:
    """One measured stop; returns seconds from the spawn for each figure, and the command's output."""
    key, sessions, pid = prepare(stack, turns)
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    async with httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, limits=limits) as client:
        closed: list[float] = []
        opened = [asyncio.Event() for _ in range(streams)]
        readers = [asyncio.create_task(follow(client, f"/v1/sessions/{sessions[n % turns]}/events", opened[n], closed))
                   for n in range(streams)]  # fmt: skip
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), WAIT)
        answers: list[tuple[float, bool]] = []
        done = asyncio.Event()
        poller = asyncio.create_task(poll(client, answers, done))
        await asyncio.sleep(0.2)  # the poller has seen the API open
        gone = asyncio.create_task(watch_gone(pid))

        began, began_wall = time.monotonic(), time.time()
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "soma", "emergency-stop", "--reason", "bench", "--yes",
            env=stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output = (await command.communicate())[0].decode()
        ended = time.monotonic()
        if command.returncode != 0:
            raise SystemExit(f"soma emergency-stop exited {command.returncode}:\n{output}")
        await asyncio.wait_for(asyncio.gather(*readers), WAIT)
        gone_at = await asyncio.wait_for(gone, WAIT)
        await asyncio.sleep(0.5)  # the poller keeps looking, so a 200 after the first 503 would show
        done.set()
        await poller

    locked = [at for at, is_locked in answers if is_locked]
    last_other = max((at for at, is_locked in answers if not is_locked), default=began)
    started_at = stack.sql("SELECT started_at FROM lockdown WHERE id = 1")[0][0]
    figures = {
        "lockdown row": started_at.timestamp() - began_wall,
        "streams closed": max(closed) - began,
        "first 503": locked[0] - began,
        "all 503": min(at for at in locked if at > last_other) - began,
        "cloudflared": gone_at - began,
        "command": ended - began,
    }
    stack.soma("emergency-stop", "--lift", "--reason", "bench")
    return figures, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured stops (default 5)")
    parser.add_argument("--streams", type=int, default=100, help="open event streams (default 100)")
    parser.add_argument("--turns", type=int, default=16, help="running turns, one chat each (default 16)")
    args = parser.parse_args(argv)

    unwind_on(signal.SIGTERM)
    with running("soma-bench-stop-", lambda tmp: Stop(tmp, args.turns)) as stack:
        stack.start()
        results: dict[str, list[float]] = {name: [] for name in FIGURES}
        output = ""
        for run in range(args.runs):
            figures, output = asyncio.run(one_run(stack, args.streams, args.turns))
            print(f"run {run + 1}: " + "   ".join(f"{name} {value:.3f}" for name, value in figures.items()), flush=True)
            for name, value in figures.items():
                results[name].append(value)
        print(f"\nsoma emergency-stop with {args.streams} open event streams, {args.turns} running turns and a connected "
              f"tunnel; seconds from spawning the command, {args.runs} runs:")  # fmt: skip
        print(f"  {'':<16}{'p50':>8}{'max':>8}   p50 / goal ({GOAL:.0f} s)")
        for name, values in results.items():
            p50 = stats.median(values)
            print(f"  {name:<16}{p50:8.3f}{max(values):8.3f}   {p50 / GOAL:.2f}")
        print("\nthe last stop's steps, as the command reported them:")
        for line in output.split("\n\n")[0].splitlines():
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
