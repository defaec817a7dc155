"""Request bodies too large to be any valid request: refused by their declared length, or counted as they arrive.

A chunked body declares no length, so the declared length alone would let one be read whole into
memory. Every body is therefore counted as the app reads it: the read that passes the limit raises
RequestTooLarge (413 through gateway/error_shape.py) and nothing past it is kept. What the client still
sends is read and dropped by the server once the 413 is out, so the client reads the 413 instead of
a connection reset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soma import errors

BODY_OVERHEAD = 64 * 1024  # bytes of JSON around the message text


@dataclass(frozen=True)
class Allowance:
    """Multipart bodies posted to a path that `path` matches may have up to `max_bytes`; past it, `refusal` (a 413) says why."""

    path: re.Pattern[str]
    max_bytes: int
    refusal: type[errors.SomaError]


class BodyLimit:
    """413 `request_too_large` for a body over `max_bytes`, declared or counted.

    Multipart bodies posted to a path in `streamed` pass uncounted: those routes stream files into
    PostgreSQL under a limit of their own. Those posted to a path of an Allowance (a message with
    its files) are counted against that larger limit instead.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: tuple[str, ...] = (), allowances: tuple[Allowance, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed
        self.allowances = allowances

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        multipart = scope["type"] == "http" and _multipart(scope)
        if scope["type"] != "http" or (multipart and scope["path"] in self.streamed):
            await self.app(scope, receive, send)
            return
        allowed = next((a for a in self.allowances if a.path.fullmatch(scope["path"])), None) if multipart else None
        max_bytes, refusal = (allowed.max_bytes, allowed.refusal) if allowed else (self.max_bytes, errors.RequestTooLarge)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > max_bytes:
            raise refusal(f"The request body has {int(length)} bytes; the limit is {max_bytes}.")
        await self.app(scope, _counted(receive, max_bytes, refusal), send)


def _multipart(scope: Scope) -> bool:
    return dict(scope["headers"]).get(b"content-type", b"").lower().startswith(b"multipart/form-data")


def _counted(receive: Receive, max_bytes: int, refusal: type[errors.SomaError]) -> Receive:
    """`receive` that raises refusal on the message that takes the body past max_bytes."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise refusal(f"The request body is larger than the limit of {max_bytes} bytes.")
        return message

    return counted


def max_body_bytes(max_message_chars: int) -> int:
    """The largest body a valid request can have: every character as a 6-byte JSON escape, plus overhead."""
    return max_message_chars * 6 + BODY_OVERHEAD
