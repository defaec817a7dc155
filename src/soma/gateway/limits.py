"""Refusing request bodies too large to be any valid request, before they are read."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from soma.gateway.error_shape import body

BODY_OVERHEAD = 64 * 1024  # bytes of JSON around the message text


class BodyLimit:
    """413 for a Content-Length above `max_bytes`; the route's own checks handle the rest.

    Multipart bodies posted to a path in `streamed` pass: those routes stream files into PostgreSQL under
    a limit of their own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._streamed(scope):
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.max_bytes:
                message = (
                    f"The request body has {int(length)} bytes; the limit is {self.max_bytes}. "
                    "Send a shorter message, or raise SOMA_MAX_MESSAGE_CHARS."
                )
                await JSONResponse(body("request_too_large", message), status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _streamed(self, scope: Scope) -> bool:
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        return scope["path"] in self.streamed and content_type.lower().startswith(b"multipart/form-data")


def max_body_bytes(max_message_chars: int) -> int:
    """The largest body a valid request can have: every character as a 6-byte JSON escape, plus overhead."""
    return max_message_chars * 6 + BODY_OVERHEAD
