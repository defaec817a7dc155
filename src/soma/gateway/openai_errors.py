"""OpenAI's error shape on the OpenAI-compatible routes: every layer's error there rewritten, the rest of the API untouched.

Errors on these routes come from many layers (authentication, the lockdown gate, the body limit,
validation, the route itself), all in Soma's shape {"error": {"code", "message"}}. OpenAI clients
read {"error": {"message", "type", "param", "code"}}: this middleware, outside them all, adds the
type and renames the few codes they know by another name.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soma.openai_compat import shapes

PATHS = frozenset({"/v1/models", "/v1/chat/completions"})


class OpenAIShape:
    """Rewrites the JSON error bodies of PATHS; passes every other response through as it streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # an error's start, sent once its body is rewritten
        body = bytearray()

        async def reshape(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                rewritten = _rewritten(held["status"], bytes(body))
                headers = MutableHeaders(raw=list(held["headers"]))
                headers["content-length"] = str(len(rewritten))
                await send({**held, "headers": headers.raw})
                await send({"type": "http.response.body", "body": rewritten})

        await self.app(scope, receive, reshape)


def _rewritten(status: int, body: bytes) -> bytes:
    """Soma's error body in OpenAI's shape; anything else as it was."""
    try:
        found = json.loads(body)
    except ValueError:
        return body
    detail = found.get("error") if isinstance(found, dict) else None
    if not isinstance(detail, dict) or not isinstance(detail.get("message"), str):
        return body
    return json.dumps(shapes.error(status, str(detail.get("code")), detail["message"])).encode()
