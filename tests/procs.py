"""Starting real `soma` processes and the scripted SLM for tests, and reading SSE streams."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 30.0  # seconds for a process to exit on SIGTERM (a worker drains its turns) before SIGKILL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    """Poll check() until it returns something truthy; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def eventually(check, timeout: float, what: str, interval: float = 0.02):
    """wait_until for async tests: await check() (a function or a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # the state follows the command's name, which may hold spaces


@dataclass
class Proc:
    """A child process whose output goes to a log file for the failure report."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        self.wait_or_kill(time.monotonic() + STOP_TIMEOUT)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the exit until `deadline` (time.monotonic()), then SIGKILL."""
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@dataclass
class Launcher:
    """Starts processes for one test and stops them all at its end."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log_path = self.log_dir / f"{name}-{len(self.procs)}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_dir)
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def soma(self, command: str, env: dict[str, str]) -> Proc:
        return self.start(command, [sys.executable, "-m", "soma", command], env)

    def stop_all(self) -> None:
        """SIGTERM every process at once, then wait for them: each drains or shuts down while the others do."""
        running = [proc for proc in reversed(self.procs) if proc.alive()]
        for proc in running:
            proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in running:
            proc.wait_or_kill(deadline)


def run_soma(env: dict[str, str], *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one `soma` command to its end, as an operator would; stdout and stderr captured as text."""
    argv = [sys.executable, "-m", "soma", *args]
    return subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


def soma_env(database_url: str, **overrides: str) -> dict[str, str]:
    """A child environment with only the SOMA_* settings a test chooses.

    Gateways open no tunnel door unless the test gives them one (tunnel_origin_port): many share this machine.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
    env.update(SOMA_DATABASE_URL=database_url, SOMA_LOG_LEVEL="INFO", SOMA_TUNNEL_ORIGIN_PORT="0")
    env.update({f"SOMA_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def wait_healthy(base_url: str, proc: Proc, timeout: float = 30) -> None:
    def up() -> bool:
        assert proc.alive(), f"{proc.name} exited:\n{proc.output()}"
        try:
            return httpx.get(base_url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout, f"{proc.name} to answer /health")


class SSEParser:
    """Turns SSE lines into events {id, event, data}; comments and `retry:` lines are skipped."""

    def __init__(self) -> None:
        self._current: dict = {}

    def feed(self, line: str) -> dict | None:
        """The event a blank line completes, else None."""
        if line == "":
            event, self._current = self._current, {}
            return event if "event" in event else None
        if line.startswith("id: "):
            self._current["id"] = int(line[4:])
        elif line.startswith("event: "):
            self._current["event"] = line[7:]
        elif line.startswith("data: "):
            self._current["data"] = json.loads(line[6:])
        return None


def read_events(client: httpx.Client, url: str, until, headers: dict | None = None, timeout: float = 30) -> list[dict]:
    """Read SSE events from url until until(events) is true; each event is {id, event, data}."""
    found: list[dict] = []
    parser = SSEParser()
    deadline = time.monotonic() + timeout
    with client.stream("GET", url, headers=headers or {}, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading events; got {found}")
            event = parser.feed(line)
            if event is not None:
                found.append(event)
                if until(found):
                    return found
    raise AssertionError(f"stream ended early; got {found}")


def has_event(kind: str, count: int = 1):
    """A stop condition for read_events: `count` events of type `kind` seen."""
    return lambda events: sum(e["event"] == kind for e in events) >= count


def start_scripted_slm(launcher: Launcher) -> ScriptedSLM:
    """Start tests/scripted_slm.py on a free port and wait until it answers."""
    port = free_port()
    proc = launcher.start("scripted-slm", [sys.executable, str(ROOT / "tests" / "scripted_slm.py"), str(port)], {})
    slm = ScriptedSLM(port, proc)

    def up() -> bool:
        assert proc.alive(), f"the scripted SLM exited:\n{proc.output()}"
        try:
            return httpx.get(slm.base_url + "/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 20, "the scripted SLM")
    return slm


class ScriptedSLM:
    """Client for tests/scripted_slm.py running as a real server."""

    def __init__(self, port: int, proc: Proc | None = None) -> None:
        self.proc = proc  # when this process started it
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._control = f"http://127.0.0.1:{port}"

    def script(self, *steps: dict, default: dict | None = None) -> None:
        payload: dict = {"steps": list(steps)}
        if default is not None:
            payload["default"] = default
        httpx.post(self._control + "/_script", json=payload).raise_for_status()

    def reset(self) -> None:
        httpx.post(self._control + "/_reset").raise_for_status()

    def release(self) -> None:
        """Let every stream held by a `hold_after` step go on (and later ones not stop)."""
        httpx.post(self._control + "/_release").raise_for_status()

    def requests(self) -> list[dict]:
        return httpx.get(self._control + "/_requests").json()["requests"]
