"""`soma tunnel run`: lead by advisory lock, follow the wanted state in PostgreSQL, run and restart cloudflared.

Any number of supervisors may run (`soma up` starts one, the chart one Deployment); the one that
holds the advisory lock runs cloudflared, the others wait to take over. The lock lives on the
leader's own connection, so a leader that dies or loses the database frees it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import config, errors
from soma.db import engine as db_engine
from soma.emergency import lockdown
from soma.observability import metrics
from soma.observability import server as metrics_server
from soma.observability.queues import QueueSampler
from soma.secrets import sources, watch
from soma.tunnel import cloudflared, state

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the leader reads the wanted state: a switch-off stops cloudflared within about a second
HEARTBEAT_SECONDS = 10.0  # reported_at is refreshed at least this often while leading, so a stale report shows
BACKOFF_FIRST = 1.0  # seconds before starting a crashed cloudflared again; doubles with each crash in a row
BACKOFF_MAX = 30.0  # seconds, the longest wait between restarts
RECONNECT_SECONDS = 1.0  # after the database was lost
LOCK_KEY = 0x736F6D615F74756E  # "soma_tun": the session advisory lock that makes one supervisor the leader
NO_ORIGIN = (
    "A quick tunnel needs the gateway's tunnel door and none is set: set SOMA_TUNNEL_ORIGIN_PORT (as for the gateway), "
    "or SOMA_TUNNEL_ORIGIN to its URL. cloudflared is never pointed at the gateway's normal listener."
)


class Supervisor:
    """The leader's loop and what it remembers between polls: the child, the token, the crash count."""

    def __init__(self, settings: config.Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.child: cloudflared.Cloudflared | None = None
        self.child_token: str | None = None
        self.token: watch.SecretWatcher | None = None
        self.token_due = 0.0  # monotonic time of the next token read
        self.token_problem = ""
        self.failures = 0  # crashes in a row, for the backoff
        self.next_start = 0.0
        self.last_error: str | None = None
        self.enabled = False
        self.locked = False  # the lockdown keeps cloudflared stopped whatever `enabled` says
        self.reported: tuple[str, str | None, str | None] | None = None
        self.reported_at = 0.0
        self.origin = state.origin(settings)

    async def run(self, stop: asyncio.Event) -> None:
        """Lead when the lock is free, wait otherwise, until `stop` is set; cloudflared is stopped on the way out."""
        metrics.tunnel_state(None)
        while not stop.is_set():
            try:
                async with self.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    if await self._acquire(conn, stop):
                        try:
                            await self._lead(conn, stop)
                        finally:
                            with contextlib.suppress(Exception):  # on a broken connection the lock is gone anyway
                                await conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except (sa.exc.DBAPIError, OSError) as exc:
                log.warning("tunnel: lost PostgreSQL (%s); cloudflared stays stopped until it is back", type(exc).__name__)
                await self._stop_child()
                await _sleep(stop, RECONNECT_SECONDS)

    async def _acquire(self, conn: AsyncConnection, stop: asyncio.Event) -> bool:
        """Wait for the lock; False when asked to stop first."""
        said = False
        while not stop.is_set():
            if (await conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})).scalar_one():
                log.info("tunnel: this supervisor leads and runs cloudflared when the tunnel is on")
                return True
            if not said:
                log.info("tunnel: another supervisor leads; waiting to take over")
                said = True
            await _sleep(stop, POLL_SECONDS)
        return False

    async def _lead(self, conn: AsyncConnection, stop: asyncio.Event) -> None:
        metrics.TUNNEL_LEADER.set(1)
        self.reported = None
        try:
            while not stop.is_set():
                await self._step(await self._wanted(conn))
                await self._report(conn)
                await _sleep(stop, POLL_SECONDS)
        finally:
            metrics.TUNNEL_LEADER.set(0)
            await self._stop_child()
            with contextlib.suppress(Exception):
                await state.report(conn, "off", None, self.last_error)
            metrics.tunnel_state(None)

    async def _wanted(self, conn: AsyncConnection) -> dict[str, Any]:
        """The wanted state, switched off while Soma is in lockdown: a row set by hand or a race with the stop cannot open it."""
        wanted = await state.read(conn)
        locked = (await lockdown.read(conn)).active
        if locked != self.locked:
            self.locked = locked
            log.warning("tunnel: %s", "Soma is in lockdown; cloudflared stays stopped" if locked else "the lockdown was lifted")
        return {**wanted, "enabled": False} if locked else wanted

    async def _step(self, wanted: dict[str, Any]) -> None:
        """Bring cloudflared in line with what an admin wants."""
        self._notice_exit()
        self.enabled = wanted["enabled"]
        mode = wanted["mode"]
        if not self.enabled:
            if self.child is not None:
                log.info("tunnel: switched off; stopping cloudflared")
                await self._stop_child()
            self.failures, self.next_start, self.last_error, self.token = 0, 0.0, None, None
            return
        if self.child is not None and self.child.mode != mode:
            log.info("tunnel: mode changed to %s; restarting cloudflared", mode)
            await self._stop_child()
        if mode == "quick" and self.origin is None:
            await self._stop_child()
            self.last_error = NO_ORIGIN
            return
        token = None
        if mode == "token":
            token = await self._token()
            if token is None:
                await self._stop_child()
                self.last_error = self.token_problem
                return
            if self.child is not None and token != self.child_token:
                log.warning("tunnel: the tunnel token changed (%s); restarting cloudflared with it", self.token.current().label)
                await self._stop_child()
        if self.child is None and time.monotonic() >= self.next_start:
            await self._start(mode, token)

    def _notice_exit(self) -> None:
        """A child that exited by itself counts as a crash: start it again after the backoff."""
        if self.child is None or self.child.running:
            return
        self.last_error = self.child.exit_reason()
        self.child = None
        self.failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))
        self.next_start = time.monotonic() + delay
        log.warning("tunnel: %s; starting it again in %.1f s", self.last_error, delay)

    async def _start(self, mode: str, token: str | None) -> None:
        argv = cloudflared.command(self.settings.cloudflared, mode, self.origin or "")
        try:
            self.child = await cloudflared.Cloudflared.start(argv, cloudflared.environment(config.child_environment(), token), mode)
        except OSError as exc:
            self.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))
            self.next_start = time.monotonic() + delay
            self.last_error = (
                f"SOMA_CLOUDFLARED={self.settings.cloudflared!r} cannot run ({exc.strerror or exc}): "
                "install cloudflared or set SOMA_CLOUDFLARED to its path."
            )
            log.warning("tunnel: %s Trying again in %.1f s", self.last_error, delay)
            return
        self.child_token = token
        if self.failures:
            metrics.TUNNEL_RESTARTS.inc()

    async def _token(self) -> str | None:
        """The tunnel token as its source says now (re-read every SOMA_SECRET_RELOAD_SECONDS), or None with token_problem set."""
        now = time.monotonic()
        if now >= self.token_due:
            self.token_due = now + self.settings.secret_reload_seconds
            try:
                if self.token is None:
                    source = sources.chosen(sources.for_tunnel_token(self.settings))
                    watcher = watch.SecretWatcher(self.settings, source, "tunnel token")
                    await asyncio.to_thread(watcher.load)
                    self.token = watcher
                else:
                    await self.token.reread()
            except errors.SomaError as exc:
                self.token_problem = f"The tunnel token cannot be read: {exc.message}"
                return None
        if self.token is None:
            return None
        reading = self.token.current()
        if reading.value is None:
            self.token_problem = f"No tunnel token in {reading.origin}: {reading.missing}. Store it there, or switch to a quick tunnel."
            return None
        return reading.value

    async def _report(self, conn: AsyncConnection) -> None:
        """Write the observed state when it changed, and at least every HEARTBEAT_SECONDS."""
        url = None
        if not self.enabled:
            now_state = "off"
        elif self.child is None:
            now_state = "failed"
        elif self.child.connected:
            now_state = "connected"
            url = self.child.public_url if self.child.mode == "quick" else self.settings.public_url
            self.failures = 0
        else:
            now_state = "starting"
        report = (now_state, url, self.last_error)
        if report == self.reported and time.monotonic() - self.reported_at < HEARTBEAT_SECONDS:
            return
        if self.reported is None or report[:2] != self.reported[:2]:
            log.info("tunnel: %s%s", now_state, f" at {url}" if url else "")
        await state.report(conn, *report)
        self.reported, self.reported_at = report, time.monotonic()
        metrics.tunnel_state(now_state)

    async def _stop_child(self) -> None:
        if self.child is not None:
            child, self.child = self.child, None
            await child.stop()


async def serve(settings: config.Settings, database_url: str) -> None:
    """Run the supervisor until SIGTERM or SIGINT, with /metrics and /health on SOMA_TUNNEL_METRICS_PORT."""
    engine = db_engine.create(database_url, pool_size=2)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    scrapes = None
    if settings.tunnel_metrics_port:
        scrapes = await metrics_server.start(
            settings.host, settings.tunnel_metrics_port, QueueSampler(engine, ()), "tunnel", "SOMA_TUNNEL_METRICS_PORT"
        )
    log.info("tunnel supervisor ready (cloudflared: %s)", settings.cloudflared)
    try:
        await Supervisor(settings, engine).run(stop)
    finally:
        if scrapes is not None:
            scrapes.close()
        await engine.dispose()
    log.info("tunnel supervisor stopped")


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, waking early when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
