"""`soma up`: embedded PostgreSQL, migrations, the local SLM, a gateway, a worker and the tunnel supervisor, in one command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

from soma import config
from soma.auth import setup_links
from soma.db import location, migrate
from soma.slm import local

HEALTH_TIMEOUT = 60.0  # seconds for the gateway to answer /ready with 200
STOP_TIMEOUT = 40.0  # seconds for children to stop; above the worker's default drain


@dataclass
class Stack:
    """The processes `soma up` runs and must stop."""

    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopping: bool = False

    def spawn(self, command: str, env: dict[str, str]) -> None:
        """Start `soma <command>` (e.g. "worker", "tunnel run") as a child."""
        self.children.append(subprocess.Popen([sys.executable, "-m", "soma", *command.split()], env=env))

    def any_exited(self) -> bool:
        """True when a child has died."""
        return any(c.poll() is not None for c in self.children)

    def stop(self) -> None:
        """SIGTERM every child and wait; the worker finishes its running turns first."""
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()


def run(settings: config.Settings, echo) -> int:
    """Run everything until SIGINT/SIGTERM or until a process dies; returns the exit code.

    What does not depend on each other starts at once: the local SLM loads its model while
    PostgreSQL starts and migrates, and the gateway and worker start while the model loads.
    """
    slm_server: local.LocalSLM | None = None
    database = None
    stack = Stack()
    for signum in (signal.SIGTERM, signal.SIGINT):  # until _wait takes over: stop what has started
        signal.signal(signum, _stop_while_starting)
    try:
        if not settings.slm_base_url:
            echo("starting the local SLM (Gemma 3 270M)…")
            slm_server = local.start(settings.data_dir)
        database = location.open_database(settings)
        for step in migrate.upgrade(database.url):
            echo(f"migrated: {step}")
        overrides = {"database_url": database.url}
        if slm_server:
            overrides.update(slm_base_url=slm_server.base_url, slm_api_key=slm_server.api_key, slm_model=slm_server.model)
        env = config.child_environment(**overrides)
        stack.spawn("worker", env)
        stack.spawn("gateway", env)
        stack.spawn("tunnel run", env)  # idle until an admin switches the tunnel on
        if slm_server:  # ready before Soma says it is, so the first turn never waits for the model
            slm_server.wait_ready()
            echo(f"local SLM at {slm_server.base_url}")
        url = f"http://{settings.host}:{settings.port}/"
        _wait_healthy(url, stack)
        echo(f"Soma is ready: open {url}")
        token = setup_links.offer_sync(database.url)
        if token:  # the fragment never reaches a server log; setup.js posts it
            minutes = int(setup_links.VALID_FOR.total_seconds() // 60)
            echo(f"No account exists yet. Set the admin password within {minutes} minutes (the link works once): {url}setup#{token}")
        return _wait(stack)
    except _Stopped:
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):  # stopping already: a second signal changes nothing
            signal.signal(signum, signal.SIG_IGN)
        stack.stop()
        if slm_server:
            slm_server.stop()
        if database:
            database.stop()


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived while Soma was starting."""


def _stop_while_starting(signum: int, _frame: object) -> None:
    # Without this, SIGTERM before _wait would end this process at once and orphan its children.
    raise _Stopped(signum)


def _wait_healthy(url: str, stack: Stack) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline and not stack.any_exited():
        try:
            if httpx.get(url + "ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"The gateway did not become ready at {url}ready; see the messages above.")


def _wait(stack: Stack) -> int:
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop["signal"]:
        if stack.any_exited():
            return 1
        time.sleep(0.2)
    return 0
