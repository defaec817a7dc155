"""The browser-facing security headers, on every response: the UI's pages and files, and the API's answers alike.

The UI loads only its own files (/static/…), runs no inline script, sets no `style` attribute from
HTML, and builds its DOM without parsing HTML (web/dom.js), so the policy can forbid everything
else. On the API's JSON it costs nothing, and it keeps a knowledge file served back inline from
running script in Soma's origin. A route may set a stricter policy of its own, which is kept: a
chat's files are served under `default-src 'none'; sandbox` (gateway/files_api.py).
docs/security.md, "The public door", has the threat model.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds HEADERS to each response as it starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name != "Content-Security-Policy" or name not in headers:  # a route's own policy is stricter
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
