"""503 `database_unavailable` instead of a 500 and a traceback while PostgreSQL is away (restarting, failing over).

A pure ASGI middleware just inside gateway/errors.py's Catch (which renders the 503), so it also
covers the middlewares that read the database (authentication, the restore gate), not only the routes.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soma import errors

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds; about what a restarted PostgreSQL needs to replay its WAL
# What a lost or refused connection raises; errors about the data itself (a DataError) are not among them.
DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, ConnectionError)


class DatabaseDown:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except DOWN as exc:
            reason = describe(exc)
            if started:  # a stream was flowing: end it cleanly; its client resumes with Last-Event-ID
                log.warning("%s %s ended: PostgreSQL went away (%s)", scope["method"], scope["path"], reason)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            log.warning("%s %s answered 503: PostgreSQL is unavailable (%s)", scope["method"], scope["path"], reason)
            raise errors.DatabaseUnavailable(reason, retry_after=RETRY_AFTER) from exc


def describe(exc: Exception) -> str:
    """The exception's type and the first line of what the driver said."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
