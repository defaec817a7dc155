"""The gateway's outermost middleware: request id, log context, HTTP metrics and one access line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soma.observability import context, metrics

log = logging.getLogger("soma.access")

HEADER = "X-Request-ID"
UNMATCHED = "unmatched"  # the route label of a path no route serves: raw paths would be unbounded
QUIET = {"/health", "/ready", "/metrics"}  # probes and scrapes: their access lines are DEBUG while they succeed
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}  # any other counts as `other`
SESSION_PATH = re.compile(r"/v1/sessions/([^/]+)(?:/|$)")


class Observe:
    """Gives each request a request id (and its session id) for the log, then counts, times and logs it.

    The route label is the template the router matched, read from the scope once the request is
    answered; a request answered before routing (404, or 413 from BodyLimit) is `unmatched`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        request_id = context.accept_request_id(_header(scope, b"x-request-id"))
        status = 500  # unless the app starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with context.bind(request=request_id, session=_session(scope["path"])):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                _record(scope, _route(scope, root_path), status, time.perf_counter() - started)


def _record(scope: Scope, route: str, status: int, seconds: float) -> None:
    """Count and time one answered request, and log its access line."""
    method = scope["method"] if scope["method"] in METHODS else "other"
    metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
    metrics.HTTP_DURATION.labels(route, method, str(status)).observe(seconds)
    path = "".join(c if c.isprintable() else "?" for c in scope["path"])  # a path cannot forge a log line
    ms = round(seconds * 1000, 1)
    level = logging.DEBUG if route in QUIET and status < 400 else logging.INFO
    extra = {"method": method, "route": route, "path": path, "status": status, "duration_ms": ms}
    log.log(level, "%s %s %d %.1fms", method, path, status, ms, extra=extra)


def _route(scope: Scope, root_path: str) -> str:
    """The template of the route that answered, as the router left it in the scope."""
    route = scope.get("route")  # FastAPI's APIRoute, also on a 405 for a path it serves
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return template
    if "app_root_path" in scope:  # a Mount (/static) matched: its prefix, never the file's path
        return scope["root_path"][len(root_path) :] or UNMATCHED
    return UNMATCHED


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _session(path: str) -> str | None:
    """The session id in a /v1/sessions/{session_id}… path, known before routing; a malformed one is not logged."""
    found = SESSION_PATH.match(path)
    try:
        return str(uuid.UUID(found.group(1))) if found else None
    except ValueError:
        return None
