"""The request and session a log line belongs to, carried in context variables.

The gateway sets them per HTTP request; the worker sets them per turn from the job's arguments,
so the lines of one message's request and of its turn share a `request_id`.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("soma_request_id", default=None)
session_id: ContextVar[str | None] = ContextVar("soma_session_id", default=None)

# What an incoming X-Request-ID may be: a token that cannot break a log line or a header.
_SANE = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """An incoming request id when it is a sane token, else a fresh one."""
    return value if value and _SANE.fullmatch(value) else new_request_id()


@contextlib.contextmanager
def bind(*, request: str | None = None, session: str | None = None) -> Iterator[None]:
    """Set the request and/or session id for the lines logged inside; None leaves one as it is."""
    tokens = []
    if request is not None:
        tokens.append((request_id, request_id.set(request)))
    if session is not None:
        tokens.append((session_id, session_id.set(session)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
