"""PostgreSQL away (restarting, failing over): which driver errors mean that, and the 503 they become.

gateway/error_shape.py's Catch, which sees what every middleware and route raises, answers them: 503
`database_unavailable` with Retry-After before the response has started, or a clean end of a stream
already flowing (its client resumes with Last-Event-ID); never a 500 and a traceback. That covers the
middlewares that read the database (authentication, the restore gate), not only the routes.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from starlette.types import Scope

from soma import errors

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds; about what a restarted PostgreSQL needs to replay its WAL
# What a lost or refused connection raises; errors about the data itself (a DataError) are not among them.
DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, ConnectionError)


def unavailable(scope: Scope, exc: Exception) -> errors.DatabaseUnavailable:
    """The 503 for a request whose answer had not started when PostgreSQL went away."""
    reason = describe(exc)
    log.warning("%s %s answered 503: PostgreSQL is unavailable (%s)", scope["method"], scope["path"], reason)
    return errors.DatabaseUnavailable(reason, retry_after=RETRY_AFTER)


def cut(scope: Scope, exc: Exception) -> None:
    """Note a stream that ends early because PostgreSQL went away."""
    log.warning("%s %s ended: PostgreSQL went away (%s)", scope["method"], scope["path"], describe(exc))


def describe(exc: Exception) -> str:
    """The exception's type and the first line of what the driver said."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
