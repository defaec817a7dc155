"""A worker's connections to every enabled tool server: the `"tools"` object of its job context.

`Pool.tools()` is what the agent loop asks each turn: the tools of the servers connected now.
The pool follows `tool_servers`: it LISTENs on store.CHANNEL (every write NOTIFYs it, so a change
reaches running workers within a moment of the commit) and reads the table again every
POLL_SECONDS as well, since a NOTIFY sent while its LISTEN connection was down is lost. A server
added gets a Connection, one removed or disabled is closed, one whose command, URL, env, headers or
init_timeout changed is connected anew; a new call_timeout or output_cap applies to the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config
from soma.db import url as db_url
from soma.tools import catalogue, store
from soma.tools.connections import Connection
from soma.tools.references import Resolver
from soma.tools.registry import Tool
from soma.tools.servers import Server

log = logging.getLogger(__name__)

POLL_SECONDS = 10.0  # tool_servers is read this often even without a NOTIFY
RETRY_SECONDS = 2.0  # after the LISTEN connection failed
SETTLE_SLACK_SECONDS = 5.0  # beyond the longest init_timeout, for reading the secrets and starting the process
MAX_SETTLE_SECONDS = 30.0  # a worker starts taking turns after this however its servers do


class Pool:
    """This process's connections, one per enabled configured server."""

    def __init__(self, engine: AsyncEngine, database_url: str, settings: config.Settings) -> None:
        self._engine = engine
        self._url = db_url.for_libpq(database_url)
        self._settings = settings
        self._resolver = Resolver(settings)
        self._connections: dict[str, Connection] = {}
        self._watching: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def tools(self) -> list[Tool]:
        """The tools of every server connected now (the loop applies the admin's choices: choices.offered)."""
        return [tool for connection in self._connections.values() for tool in connection.tools()]

    def states(self) -> dict[str, tuple[str, str | None]]:
        """(state, error) of each connection, by server name."""
        return {name: (c.state, c.error) for name, c in self._connections.items()}

    async def start(self) -> None:
        """Connect to the configured servers (in the background) and follow changes to them."""
        await self.refresh()
        self._watching = asyncio.create_task(self._watch_forever(), name="soma-tool-servers-watch")

    async def settle(self) -> None:
        """Wait until each server's first attempt has connected or failed, bounded by its init_timeout.

        A worker calls it before it takes turns: a turn taken sooner, one resumed after a crash
        included, would be offered none of the MCP tools of servers still starting (a stdio server
        takes seconds), and the SLM would answer without them.
        """
        waiting = [c for c in self._connections.values() if not c.tried.is_set()]
        if not waiting:
            return
        limit = min(max(c.server.init_timeout for c in waiting) + SETTLE_SLACK_SECONDS, MAX_SETTLE_SECONDS)
        tries = [asyncio.ensure_future(c.tried.wait()) for c in waiting]
        try:
            await asyncio.wait(tries, timeout=limit)
        finally:
            for waited in tries:
                waited.cancel()
        for connection in waiting:
            if not connection.tried.is_set():
                log.warning("tool server %r: still connecting after %gs; turns start without its tools meanwhile", connection.server.name, limit)

    async def close(self) -> None:
        """Stop following changes and close every connection (stdio servers are stopped)."""
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        async with self._lock:
            await asyncio.gather(*(c.close() for c in self._connections.values()))
            self._connections.clear()

    async def refresh(self) -> None:
        """Read tool_servers and bring the connections in line with it."""
        async with self._engine.connect() as conn:
            configured, broken = await store.load(conn, self._settings)
        for name, error in broken.items():
            log.warning("tool server %r: its stored configuration is refused: %s", name, error)
        wanted = {server.name: server for server in configured if not server.disabled}
        async with self._lock:
            for name in list(self._connections):
                current = self._connections[name]
                server = wanted.get(name)
                if server is None or server.connection_key != current.server.connection_key:
                    del self._connections[name]
                    await current.close()
                elif server.version != current.server.version:
                    current.update(server)
            for name, server in wanted.items():
                if name not in self._connections:
                    connection = Connection(server, self._resolver, self._report, self._settings.secret_reload_seconds)
                    self._connections[name] = connection
                    connection.start()

    async def _report(self, server: Server, state: str, error: str | None, tools: list[dict[str, Any]] | None) -> None:
        """A connection's change, into tool_catalogue (dropped there when the server changed since: catalogue.record)."""
        async with self._engine.begin() as conn:
            await catalogue.record(conn, server, catalogue.Found(state, error, tools))

    async def _watch_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {store.CHANNEL}")
                    await self.refresh()  # what changed while not listening
                    while True:
                        async for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            pass
                        await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PostgreSQL away: the connections stay as they are meanwhile
                log.warning("cannot follow tool server changes (%s); retrying in %.0fs", type(exc).__name__, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
