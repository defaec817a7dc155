"""Request bodies too large to be any valid request: refused by their declared length, or counted as they arrive.

A chunked body declares no length, so the declared length alone would let one be read whole into
memory. Every body is therefore counted as the app reads it: the read that passes the limit raises
RequestTooLarge (413 through gateway/error_shape.py) and nothing past it is kept. What the client still
sends is read and dropped by the server once the 413 is out, so the client reads the 413 instead of
a connection reset.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soma import errors

BODY_OVERHEAD = 64 * 1024  # bytes of JSON around the message text


class BodyLimit:
    """413 `request_too_large` for a body over `max_bytes`, declared or counted.

    Multipart bodies posted to a path in `streamed` pass uncounted: those routes stream files into
    PostgreSQL under a limit of their own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._streamed(scope):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_bytes:
            raise errors.RequestTooLarge(f"The request body has {int(length)} bytes; the limit is {self.max_bytes}.")
        await self.app(scope, _counted(receive, self.max_bytes), send)

    def _streamed(self, scope: Scope) -> bool:
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        return scope["path"] in self.streamed and content_type.lower().startswith(b"multipart/form-data")


def _counted(receive: Receive, max_bytes: int) -> Receive:
    """`receive` that raises RequestTooLarge on the message that takes the body past max_bytes."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise errors.RequestTooLarge(f"The request body is larger than the limit of {max_bytes} bytes.")
        return message

    return counted


def max_body_bytes(max_message_chars: int) -> int:
    """The largest body a valid request can have: every character as a 6-byte JSON escape, plus overhead."""
    return max_message_chars * 6 + BODY_OVERHEAD
