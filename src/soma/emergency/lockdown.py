"""The emergency lockdown: its one row in PostgreSQL, and each process's in-memory copy of it (Watch)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables
from soma.db import url as db_url

log = logging.getLogger(__name__)

CHANNEL = "soma_lockdown"  # NOTIFY on every change, so processes learn of it at once
POLL_SECONDS = 1.0  # a process re-reads the row this often too, in case a NOTIFY was missed
_l = tables.lockdown


@dataclass(frozen=True)
class State:
    """The lockdown row."""

    active: bool
    reason: str | None = None
    started_at: datetime.datetime | None = None
    started_by: str | None = None
    lifted_at: datetime.datetime | None = None
    lifted_by: str | None = None


async def read(conn: AsyncConnection) -> State:
    """The lockdown as stored now."""
    row = (await conn.execute(sa.select(_l).where(_l.c.id == 1))).one_or_none()
    if row is None:
        return State(False)
    return State(row.active, row.reason, row.started_at, row.started_by, row.lifted_at, row.lifted_by)


async def enter(conn: AsyncConnection, reason: str, by: str) -> tuple[State, bool]:
    """Turn the lockdown on (in the caller's transaction); returns the state and whether it was off before.

    Already on: it stays as it was, with the first reason and time.
    """
    changed = await conn.execute(
        sa.update(_l)
        .where(_l.c.id == 1, _l.c.active.is_(False))
        .values(active=True, reason=reason, started_at=sa.func.now(), started_by=by, lifted_at=None, lifted_by=None)
    )
    await _notify(conn, "on")
    return await read(conn), changed.rowcount > 0


async def lift(conn: AsyncConnection, by: str) -> tuple[State, bool]:
    """End the lockdown; returns the state and whether it was on before."""
    changed = await conn.execute(
        sa.update(_l).where(_l.c.id == 1, _l.c.active.is_(True)).values(active=False, lifted_at=sa.func.now(), lifted_by=by)
    )
    await _notify(conn, "off")
    return await read(conn), changed.rowcount > 0


async def _notify(conn: AsyncConnection, payload: str) -> None:
    # Sent at commit, so a process that hears it reads the new row.
    await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


class Watch:
    """This process's copy of the lockdown flag, so no request or job has to ask PostgreSQL.

    It LISTENs on CHANNEL and re-reads the row every POLL_SECONDS, so a change reaches it within a
    second even when a NOTIFY is lost. When PostgreSQL is unreachable it keeps the last value read.
    """

    def __init__(self, database_url: str, on_change: Callable[[bool], None] | None = None) -> None:
        self._url = db_url.for_libpq(database_url)
        self._on_change = on_change
        self.active = False
        self.reason: str | None = None
        self._on = asyncio.Event()
        self._off = asyncio.Event()
        self._off.set()
        self._read_once = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching in the background."""
        self._task = asyncio.create_task(self._watch_forever(), name="soma-lockdown-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def first_read(self, timeout: float) -> None:
        """Wait until the row has been read once, or a first attempt failed (or timeout seconds).

        A failed attempt ends the wait: without the database a gateway serves nothing but /health anyway.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._read_once.wait(), timeout)

    async def wait_on(self) -> None:
        """Return once the lockdown is on."""
        await self._on.wait()

    def set(self, active: bool, reason: str | None) -> None:
        """Take a value read from the row; calls on_change when it differs from the last one."""
        self.reason = reason
        self._read_once.set()
        if active == self.active:
            return
        self.active = active
        (self._on if active else self._off).set()
        (self._off if active else self._on).clear()
        log.warning("lockdown %s%s", "on" if active else "lifted", f": {reason}" if active and reason else "")
        if self._on_change is not None:
            self._on_change(active)

    async def _watch_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    while True:
                        cursor = await conn.execute("SELECT active, reason FROM lockdown WHERE id = 1")
                        row = await cursor.fetchone()
                        self.set(bool(row and row[0]), row[1] if row else None)
                        async for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._read_once.set()
                log.warning("cannot read the lockdown flag (%s); keeping '%s', retrying in %.0fs",
                            exc, "on" if self.active else "off", POLL_SECONDS)  # fmt: skip
            await asyncio.sleep(POLL_SECONDS)
