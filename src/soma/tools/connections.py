"""One tool server's connection in a worker process: kept open, opened again when it fails, its tools the loop's.

A Connection runs one supervising task. It resolves the server's secret references (in a thread:
Vault, files), opens a session (session.open, within init_timeout), reports what it found, and holds
the session until the server goes away (a stdio server's output closes), its secrets change (re-read
every SOMA_SECRET_RELOAD_SECONDS: a new value means connecting again with it), a periodic listing
fails, or the connection is closed. A failure is reported with its error, and the next attempt waits
FIRST_BACKOFF_SECONDS, doubling to MAX_BACKOFF_SECONDS, and back to the first after the session stayed
up STABLE_SECONDS; a secret that changes meanwhile is tried at once. Calls run in the caller's task on
the session open at the time; none waits for a reconnection: a server that is down answers an error result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from soma.tools.references import Resolved, Resolver, Unresolved
from soma.tools.registry import CallContext, ToolResult, ToolSpec
from soma.tools.servers import Server

if TYPE_CHECKING:
    from soma.tools import session as sessions

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 30.0  # up this long, a session's next failure starts the backoff from the first step again
RELIST_SECONDS = 60.0  # an idle session lists its tools again this often: they may change, and it proves the server answers
CLOSE_SECONDS = 10.0  # for a session to close before its task is cancelled (a stdio server's stop takes up to 6 s)

# (server, state, error, tools or None to keep the last known) -> written to tool_catalogue
Report = Callable[[Server, str, str | None, list[dict[str, Any]] | None], Awaitable[None]]


@dataclass(frozen=True)
class McpTool:
    """One tool of a connected server, as the registry's Tool: its spec, and a call through the connection."""

    spec: ToolSpec
    connection: Connection

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        """Call it on the server's current session; an error result (never an exception) when that fails or times out."""
        return await self.connection.call(self.spec.name, arguments)


class Connection:
    """The session with one configured server, and its state: connecting, connected or failed."""

    def __init__(self, server: Server, resolver: Resolver, report: Report, reload_seconds: float, relist_seconds: float = RELIST_SECONDS) -> None:
        self.server = server
        self.state = "connecting"
        self.error: str | None = None
        self._resolver = resolver
        self._report = report
        self._reload_seconds = reload_seconds
        self._relist_seconds = relist_seconds
        self._session: sessions.Session | None = None
        self._tools: list[McpTool] = []
        self._stop = asyncio.Event()
        self._calls = 0
        self._task: asyncio.Task[None] | None = None
        self._scope: anyio.CancelScope | None = None  # around the session: cancelled by close(), so its servers stop cleanly
        self._reported: tuple[Any, ...] = ()
        self._stale = False  # the secrets' source stopped answering while a session was open
        self.tried = asyncio.Event()  # the first attempt connected or failed (or the connection closed): Pool.settle

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"soma-tool-server-{self.server.name}")

    async def close(self) -> None:
        """End the session (a stdio server is stopped); calls in flight end with an error result."""
        self._stop.set()
        self.tried.set()
        if self._scope is not None:
            self._scope.cancel()  # an anyio cancellation: the stdio server's shielded stop still runs
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=CLOSE_SECONDS)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def tools(self) -> list[McpTool]:
        """The server's tools while it is connected, else none."""
        return list(self._tools) if self._session is not None else []

    def update(self, server: Server) -> None:
        """Take a new call_timeout or output_cap without connecting again (what else changes needs a new Connection)."""
        self.server = server
        if self._session is not None:
            self._session.server = server

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Call one tool on the session open now."""
        session = self._session
        if session is None:
            why = f": {self.error}" if self.error else " yet"
            return ToolResult(False, f"The tool server {self.server.name!r} is not connected{why}.", "unavailable")
        self._calls += 1
        try:
            return await session.call(tool, arguments)
        finally:
            self._calls -= 1

    async def _supervise(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while not self._stop.is_set():
            resolved = await self._resolve()
            if resolved is None:
                await self._pause(backoff, None)
            else:
                started = time.monotonic()
                await self._hold(resolved)
                if time.monotonic() - started > STABLE_SECONDS:
                    backoff = FIRST_BACKOFF_SECONDS
                if self._stop.is_set() or self.state == "connecting":  # closed, or a secret changed: at once
                    continue
                await self._pause(backoff, resolved.fingerprint)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _resolve(self) -> Resolved | None:
        """The server's env and headers with their secrets read; None (and failed) when one gives no value."""
        try:
            return await asyncio.to_thread(self._resolver.resolve, dict(self.server.env or {}), dict(self.server.headers or {}))
        except Unresolved as exc:
            await self._failed(f"cannot read its secret: {exc}")
            return None

    async def _hold(self, resolved: Resolved) -> None:
        """Open a session and keep it until the server goes, its secrets change, or the connection closes."""
        from soma.tools import session as sessions  # the MCP SDK: 0.5 s of CPU to import, paid by the first connection only

        link = sessions.Link()
        ended = False
        try:
            with anyio.CancelScope() as self._scope:
                if self._stop.is_set():
                    return
                async with sessions.open(self.server, resolved, link) as opened:
                    self._session = opened
                    self._tools = [McpTool(sessions.spec(self.server.name, entry), self) for entry in opened.tools]
                    self.state, self.error = "connected", None
                    log.info("tool server %r: connected, %d tools%s", self.server.name, len(opened.tools), _versions(resolved))
                    await self._tell("connected", None, opened.tools)
                    ended = await self._watch(opened, link, resolved)
                    self._session = None
            self._session = None
            if ended:  # described now that the process is reaped: its exit code and stderr are known
                await self._failed(resolved.redact(sessions.describe(EOFError(), link, self.server)))
        except (Exception, BaseExceptionGroup) as exc:  # whatever ended the session: it is reported, and tried again
            self._session = None
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            await self._failed(resolved.redact(sessions.describe(exc, link, self.server)))

    async def _watch(self, opened: sessions.Session, link: sessions.Link, resolved: Resolved) -> bool:
        """Wait while the session is good; True when the server went away, False when closed or to connect again."""
        listed_at = time.monotonic()
        while True:
            stopping = asyncio.ensure_future(self._stop.wait())
            ended = asyncio.ensure_future(link.ended.wait())
            try:
                await asyncio.wait({stopping, ended}, timeout=self._reload_seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                ended.cancel()
            if self._stop.is_set():
                return False
            if link.ended.is_set():
                self._session = None
                return True
            if await self._secrets_changed(resolved):
                self.state = "connecting"
                return False
            if self._calls == 0 and time.monotonic() - listed_at > self._relist_seconds:
                await self._relist(opened)
                listed_at = time.monotonic()

    async def _secrets_changed(self, resolved: Resolved) -> bool:
        if not resolved.secrets:
            return False
        try:
            fresh = await asyncio.to_thread(self._resolver.resolve, dict(self.server.env or {}), dict(self.server.headers or {}))
        except Unresolved as exc:
            if not self._stale:  # once, not every few seconds while the source is away
                log.warning("tool server %r: cannot re-read its secret, keeping the one it has: %s", self.server.name, exc)
            self._stale = True
            return False
        if self._stale:
            log.info("tool server %r: its secret reads again", self.server.name)
            self._stale = False
        if fresh.fingerprint == resolved.fingerprint:
            return False
        log.warning("tool server %r: its secret changed%s; connecting again", self.server.name, _versions(fresh))
        return True

    async def _relist(self, opened: sessions.Session) -> None:
        """List the tools again; a failure ends the session as any other (the caller's except)."""
        from soma.tools import session as sessions  # imported by _hold already: only a name here

        with anyio.fail_after(self.server.init_timeout):
            listed = await sessions.listing(opened.client)
        log.debug("tool server %r: listed its %d tools again", self.server.name, len(listed))
        if listed != opened.tools:
            opened.tools = listed
            self._tools = [McpTool(sessions.spec(self.server.name, entry), self) for entry in listed]
            await self._tell("connected", None, listed)

    async def _pause(self, seconds: float, fingerprint: str | None) -> None:
        """Wait `seconds` before the next attempt; less when closed, or when the secrets now read otherwise than
        for the failed attempt (a secret fixed in Vault is tried at once, not after the backoff)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), min(left, self._reload_seconds))
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            fresh = await self._fingerprint()
            if fresh is not None and fresh != fingerprint:
                return

    async def _fingerprint(self) -> str | None:
        try:
            fresh = await asyncio.to_thread(self._resolver.resolve, dict(self.server.env or {}), dict(self.server.headers or {}))
        except Unresolved:
            return None
        return fresh.fingerprint

    async def _failed(self, error: str) -> None:
        self.state, self.error = "failed", error
        self._tools = []
        await self._tell("failed", error, None)

    async def _tell(self, state: str, error: str | None, tools: list[dict[str, Any]] | None) -> None:
        """Report a change (not a repeat) to the catalogue, and log a failure once per error."""
        self.tried.set()
        now = (state, error, tools)
        if now == self._reported:
            return
        if state == "failed":
            log.warning("tool server %r: failed: %s", self.server.name, error)
        self._reported = now
        try:
            await self._report(self.server, state, error, tools)
        except Exception as exc:  # the database is away: the state is still this process's to use
            log.warning("tool server %r: cannot record its state (%s)", self.server.name, type(exc).__name__)


def _versions(resolved: Resolved) -> str:
    return f" ({', '.join(resolved.versions)})" if resolved.versions else ""
