"""The API's one JSON error shape: {"error": {"code", "message"}}; the only place errors become HTTP.

Errors reach here two ways. A route's SomaError, a validation error or an HTTPException goes to
the exception handlers installed by install(). A SomaError raised by a middleware (authentication,
the lockdown, the body limit, the restore gate) never reaches those handlers, since Starlette runs
them inside every middleware: Catch, just inside Observe, renders it, and turns a lost database
from any layer into 503 (gateway/database_down.py). Both go through render(), so a refusal looks
the same from whichever layer it came.
"""

from __future__ import annotations

import html
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soma import errors
from soma.gateway import database_down, openai_errors

log = logging.getLogger(__name__)

LOGIN_PAGE = "/login"
SIGN_IN_PATHS = ("/v1/auth/oidc/",)  # reached by a browser navigating, from Soma or back from the provider
WWW_AUTHENTICATE = 'Bearer realm="soma"'


def body(code: str, message: str, **extra: object) -> dict[str, object]:
    """The error document every failing API call returns."""
    return {"error": {"code": code, "message": message, **extra}}


def respond(scope: Scope, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The error response: Soma's shape, or OpenAI's on the OpenAI-compatible routes."""
    if scope["path"] in openai_errors.PATHS:
        return Response(openai_errors.content(status, code, message), status_code=status, headers=headers, media_type="application/json")
    return JSONResponse(body(code, message), status_code=status, headers=headers)


def render(scope: Scope, exc: errors.SomaError) -> Response:
    """A SomaError as HTTP: a browser opening a page without a session is sent to the login page.

    Retry-After goes with a 429 or 503 that knows when to try again; WWW-Authenticate with a
    missing or ended credential.
    """
    unauthenticated = isinstance(exc, errors.Unauthenticated)
    if unauthenticated and _wants_page(scope):
        return RedirectResponse(LOGIN_PAGE, status_code=303)
    if scope["path"].startswith(SIGN_IN_PATHS) and "text/html" in Headers(scope=scope).get("accept", ""):
        return refusal_page(exc)
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if exc.status_code in (429, 503) and retry_after:
        headers["Retry-After"] = str(int(retry_after))
    if unauthenticated:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return respond(scope, exc.status_code, exc.code, exc.message, headers or None)


def refusal_page(exc: errors.SomaError) -> HTMLResponse:
    """A refused single sign-on as the browser that followed the provider's redirect sees it: the message, and the way back."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in refused · Soma</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/static/style.css"></head>'
        '<body class="auth-body"><main class="auth-card"><h1 class="auth-title">Sign-in refused</h1>'
        f'<p class="auth-error" role="alert" data-testid="sso-error" data-code="{html.escape(exc.code)}">{html.escape(exc.message)}</p>'
        '<p><a href="/login" data-testid="back-to-login">Back to the login page</a></p></main></body></html>'
    )
    return HTMLResponse(page, status_code=exc.status_code)


def _wants_page(scope: Scope) -> bool:
    """A browser navigating to one of the UI's pages (not an API call, which gets the JSON error)."""
    accept = Headers(scope=scope).get("accept", "")
    return scope["method"] == "GET" and "text/html" in accept and not scope["path"].startswith("/v1/")


class Catch:
    """Renders a SomaError a middleware raised, and a lost database; just inside Observe, which counts the answer and gives it a request id.

    A SomaError raised once the response has started cannot become another response: it goes on up,
    and the server cuts the connection, so a client never takes a truncated download for a whole one.
    A lost database then ends the response cleanly instead: an event stream resumes from Last-Event-ID.
    """

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
        except database_down.DOWN as exc:
            if started:
                database_down.cut(scope, exc)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await render(scope, database_down.unavailable(scope, exc))(scope, receive, send)
        except errors.SomaError as exc:
            if started:
                raise
            await render(scope, exc)(scope, receive, send)


async def _soma_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.SomaError)
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return render(request.scope, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(e) for e in exc.errors()]
    message = "The request is not valid: " + "; ".join(problems) + ". Fix the request and send it again."
    return respond(request.scope, 422, "invalid_request", message)


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, errors.SomaError):
        # FastAPI turns whatever reading the body raised into a 400; the body limit's error is ours to show.
        return await _soma_error(request, exc.__cause__)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's 400 for a JSON body that is not UTF-8: the same 422 as any other body that is not JSON.
        return await _validation_error(request, RequestValidationError([{"type": "json_invalid", "loc": ("body",)}]))
    if exc.status_code == 405:
        return _method_not_allowed(request, exc)
    code = {404: "not_found"}.get(exc.status_code, "http_error")
    return respond(request.scope, exc.status_code, code, str(exc.detail), exc.headers)


def _method_not_allowed(request: Request, exc: HTTPException) -> Response:
    """405 naming every method served at this path: Starlette's names only the first route that matched it."""
    allowed = {method.strip() for method in (exc.headers or {}).get("Allow", "").split(",") if method.strip()}
    paths = request.app.openapi()["paths"]
    fitting = [template for template in paths if _fits(template, request.url.path)]
    # The templates that name most of the path literally: /v1/tools/servers/x is a server's path, not a tool's.
    most = max((_literals(template) for template in fitting), default=0)
    for template in fitting:
        if _literals(template) == most:
            allowed |= {method.upper() for method in paths[template]}
    methods = ", ".join(sorted(allowed))
    message = f"{request.url.path} does not answer {request.method}; it answers {methods}."
    return respond(request.scope, 405, "method_not_allowed", message, {"Allow": methods})


def _fits(template: str, path: str) -> bool:
    """True when `path` is an instance of an OpenAPI path template such as /v1/keys/{key_id}."""
    wanted, given = template.split("/"), path.split("/")
    return len(wanted) == len(given) and all(w == g or (w.startswith("{") and g) for w, g in zip(wanted, given))


def _literals(template: str) -> int:
    return sum(1 for part in template.split("/") if part and not part.startswith("{"))


def install(app: FastAPI) -> None:
    """Route every error through the one shape: the handlers for routes; add Catch as a middleware for the layers around them."""
    app.add_exception_handler(errors.SomaError, _soma_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
