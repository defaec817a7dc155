"""`soma sandbox`'s HTTP app: /health, /v1/check and /v1/runs, behind the service's own key.

Every route but /health needs `Authorization: Bearer <SOMA_SANDBOX_KEY>`, unknown ones too, so a
stranger learns nothing but that the service is up. Errors have the gateway's shape,
{"error": {"code", "message"}}. A run's answer is NDJSON streamed as the run goes; when the client
closes the connection the run is killed at once, whether it was printing or not (RunStream listens
for the disconnect itself rather than waiting for a write to fail).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from soma import errors
from soma.sandbox import cgroups, check, jail, limits, protocol, runner

log = logging.getLogger(__name__)

OPEN_PATHS = ("/health",)
GRACEFUL_SHUTDOWN = 5  # seconds for running runs once SIGTERM arrives; then they are killed
STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start (e.g. the port is taken)


def create(key: str, python: Path, max_runs: int, delegated: cgroups.Cgroups | None = None) -> Starlette:
    """The app, whose jails run `python` (SOMA_SANDBOX_PYTHON); `delegated` is the cgroups found, if any."""
    slots = limits.Slots(max_runs, delegated)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        problem = await app.state.checker.reason()
        if problem:
            log.warning("no code can run in this sandbox: %s", problem)
        else:
            runs_as = "a host uid per run" if slots.uid_per_run else "this process's uid"
            log.info("sandbox ready: jails run as %s, at most %d at once", runs_as, max_runs)
        yield

    app = Starlette(
        routes=[Route("/health", health), Route("/v1/check", check_route), Route("/v1/runs", runs, methods=["POST"])],
        exception_handlers={errors.SomaError: _error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.slots = slots
    app.state.checker = check.Checker(python, slots)
    app.add_middleware(_KeyRequired, key=key)
    return app


async def health(request: Request) -> JSONResponse:
    """The process answers; whether a jail can run is /v1/check."""
    return JSONResponse({"ok": True})


async def check_route(request: Request) -> JSONResponse:
    """Whether a jail runs here: {"ok": true}, or {"ok": false, "reason": "<cause and fix>"}."""
    reason = await request.app.state.checker.reason()
    return JSONResponse({"ok": True} if reason is None else {"ok": False, "reason": reason})


async def runs(request: Request) -> Response:
    """Run code in a fresh jail; NDJSON of its output as it comes, then its result."""
    run = protocol.parse_request(await _json_body(request))
    return RunStream(_lines(await request.app.state.checker.layout(), request.app.state.slots, run))


async def _json_body(request: Request) -> object:
    """The body as JSON, refused with 413 as soon as it is known to be too large."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > protocol.MAX_BODY_BYTES:
        raise errors.RunRequestTooLarge(f"The body is {declared} bytes; at most {protocol.MAX_BODY_BYTES}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > protocol.MAX_BODY_BYTES:
            raise errors.RunRequestTooLarge(f"The body is over {protocol.MAX_BODY_BYTES} bytes.")
    try:
        return json.loads(body)
    except ValueError:
        raise errors.RunRequestInvalid("The body is not JSON.") from None


async def _lines(layout: jail.Layout | str, slots: limits.Slots, run: protocol.RunRequest) -> AsyncIterator[bytes]:
    """The run's NDJSON lines; a jail that cannot run here is a result with reason `failed` saying why."""
    if isinstance(layout, str):
        yield _failed(layout)
        return
    async with slots.slot() as slot:
        async with contextlib.aclosing(runner.run(layout, run, slot)) as events:
            async for event in events:
                if isinstance(event, protocol.Output):
                    yield protocol.output_line(event)
                else:
                    for piece in protocol.result_lines(event):
                        yield piece


def _failed(message: str) -> bytes:
    return b"".join(protocol.result_lines(protocol.Result(None, "failed", message, False, False, 0.0)))


class RunStream(Response):
    """A streamed NDJSON answer that stops its source (the run) the moment the client disconnects."""

    def __init__(self, lines: AsyncGenerator[bytes, None]) -> None:  # no Response.__init__: it would declare a length
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"application/x-ndjson")]
        self.lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                try:
                    await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                    async for line in self.lines:
                        await send({"type": "http.response.body", "body": line, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.lines.aclose()  # kills the jail if it still runs
                group.cancel_scope.cancel()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(stream)
            group.start_soon(watch)


def _error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SomaError)
    return _error_response(exc.status_code, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return _error_response(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", str(exc.detail))


class _KeyRequired:
    """Refuses every request without the service's key, except OPEN_PATHS; compared in constant time."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.expected = f"Bearer {key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                exc = errors.SandboxUnauthorized()
                response = _error_response(exc.status_code, exc.code, exc.message)
                response.headers["WWW-Authenticate"] = 'Bearer realm="soma-sandbox"'
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def serve(key: str, python: Path, max_runs: int, host: str, port: int, log_level: str) -> None:
    """Serve until SIGTERM or SIGINT; running jails are killed when the service stops."""
    delegated, said = cgroups.Cgroups.find()
    log.info("limits: %s", said)
    app = create(key, python, max_runs, delegated)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), log_config=None, access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN, proxy_headers=False)  # fmt: skip
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
