"""An open event stream's credential, re-checked while the stream lasts.

NOTIFY (soma.auth.ending) ends streams the moment a credential is ended on purpose; these
re-checks catch what no NOTIFY announces: expiry, idle expiry, and announcements missed while
the LISTEN connection was down. Each is one query that notes no use (last_seen, last_used).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.auth import keys, logins
from soma.auth.principal import Principal

log = logging.getLogger(__name__)

MARGIN = 0.05  # seconds past the expiry before re-checking, so the database agrees it has passed


class StreamGuard:
    """Knows when its stream's credential expires and whether it still holds."""

    def __init__(self, engine: AsyncEngine, principal: Principal, idle_seconds: float) -> None:
        self._engine = engine
        self._principal = principal
        self._idle = idle_seconds
        self._expires: float | None = None  # time.monotonic() of the credential's expiry, if it has one

    def wait_time(self, keepalive: float) -> float:
        """Seconds until the next keep-alive or the credential's expiry, whichever comes first."""
        if self._expires is None:
            return keepalive
        return max(0.0, min(keepalive, self._expires + MARGIN - time.monotonic()))

    async def check(self, conn: AsyncConnection) -> str | None:
        """Why the credential no longer holds (a soma.auth.ending reason), or None; notes when it expires."""
        principal = self._principal
        if principal.kind == "key":
            reason, left = await keys.standing(conn, principal.id)
        else:
            assert principal.session_id is not None
            reason, left = await logins.standing(conn, principal.session_id, self._idle, principal.scopes)
        self._expires = None if left is None else time.monotonic() + left
        return reason

    async def recheck(self) -> str | None:
        """check() on a connection of its own; None while the database cannot answer: the stream goes on until it can."""
        try:
            async with self._engine.connect() as conn:
                return await self.check(conn)
        except DBAPIError as exc:
            self._expires = None  # wait a keep-alive before trying again
            log.warning("cannot re-check an event stream's credential (%s); trying again at the next keep-alive", exc)
            return None
