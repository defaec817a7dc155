"""Whether the sandbox service can run code, as a worker last found it: the `soma` row of tool_catalogue.

The gateway holds no sandbox key, so it cannot ask the sandbox itself; each worker checks it
(`GET /v1/check`) when it starts and while it fails, and writes what it found here, where
`GET /v1/tools` shows it beside `run_code`. The row's server is the built-ins' name, which no
configured tool server may take (servers.py), so nothing else writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import config
from soma.tools.registry import BUILTIN_SERVER

if TYPE_CHECKING:
    from soma.sandbox.client import Sandbox

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 10.0  # for one check's answer: a jail's first start can take a moment on a busy machine
CHECK_SECONDS = 30.0  # while the sandbox fails, it is checked again this often; a working one every RECHECK_SECONDS
RECHECK_SECONDS = 300.0
NOT_CHECKED = "no worker has checked the sandbox service yet"
NOT_CONFIGURED = (
    "SOMA_SANDBOX_URL and SOMA_SANDBOX_KEY are not set for the worker: start `soma sandbox` "
    "and give the worker its URL and key (`soma up` does both)"
)

_RECORD = sa.text(
    """
    INSERT INTO tool_catalogue (server, state, error, tools, checked_at) VALUES (:server, :state, :error, '[]'::jsonb, now())
    ON CONFLICT (server) DO UPDATE SET state = excluded.state, error = excluded.error, checked_at = excluded.checked_at
    """
)
_READ = sa.text("SELECT state, error FROM tool_catalogue WHERE server = :server")


async def record(conn: AsyncConnection, reason: str | None) -> None:
    """Store what a check found: None when code can run, else why not."""
    await conn.execute(_RECORD, {"server": BUILTIN_SERVER, "state": "failed" if reason else "connected", "error": reason})


async def read(conn: AsyncConnection) -> str | None:
    """Why code cannot run, as the last worker to check found it; None when it can."""
    row = (await conn.execute(_READ, {"server": BUILTIN_SERVER})).one_or_none()
    if row is None:
        return NOT_CHECKED
    return row.error if row.state == "failed" else None


async def code_blocked(conn: AsyncConnection, code_execution: str) -> str | None:
    """Why run_code is not offered now (the setting, or the sandbox as a worker found it); None when it is."""
    if code_execution != "on":
        return "code execution is off in Settings (code_execution)"
    return await read(conn)


@dataclass
class Watch:
    """This worker's sandbox client and whether it works now: the `"sandbox"` object of its job context."""

    client: Sandbox | None  # None when no URL and key are set
    reason: str | None = NOT_CHECKED
    _task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: config.Settings) -> Watch:
        if not (settings.sandbox_url and settings.sandbox_key):
            return cls(None, NOT_CONFIGURED)
        from soma.sandbox.client import Sandbox  # httpx only: cheap, but only workers that run code need it

        return cls(Sandbox(settings.sandbox_url, settings.sandbox_key.get_secret_value()))

    @property
    def available(self) -> bool:
        return self.client is not None and self.reason is None

    async def start(self, engine: AsyncEngine) -> None:
        """Check once now, then keep checking in the background."""
        await self._check(engine)
        self._task = asyncio.create_task(self._follow(engine), name="soma-sandbox-check")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def failed(self, reason: str) -> None:
        """A run could not reach the sandbox: offer no run_code until the next check finds it again."""
        self.reason = reason

    async def _follow(self, engine: AsyncEngine) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS if self.available else CHECK_SECONDS)
            await self._check(engine)

    async def _check(self, engine: AsyncEngine) -> None:
        before = self.reason
        if self.client is not None:
            try:
                self.reason = await asyncio.wait_for(self.client.check(), CHECK_TIMEOUT_SECONDS)
            except Exception as exc:  # unreachable, refused, a bad answer: all say the same to the admin
                self.reason = f"the sandbox service did not answer its check ({type(exc).__name__}: {exc}); is `soma sandbox` running at SOMA_SANDBOX_URL?"
        if self.reason != before or before == NOT_CHECKED:
            if self.reason:
                log.warning("run_code is off: %s", self.reason)
            else:
                log.info("sandbox service: ready, run_code is on")
        try:
            async with engine.begin() as conn:
                await record(conn, self.reason)
        except Exception as exc:  # the database is down: the next check writes it
            log.warning("could not record the sandbox's state: %s", exc)
