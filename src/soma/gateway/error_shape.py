"""The API's one JSON error shape: {"error": {"code", "message"}}; the only place errors become HTTP."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from soma import errors

log = logging.getLogger(__name__)


def body(code: str, message: str, **extra: object) -> dict[str, object]:
    """The error document every failing API call returns."""
    return {"error": {"code": code, "message": message, **extra}}


async def _soma_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SomaError)
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(int(retry_after))} if exc.status_code in (429, 503) and retry_after else None
    return JSONResponse(body(exc.code, exc.message), status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(e) for e in exc.errors()]
    message = "The request is not valid: " + "; ".join(problems) + ". Fix the request and send it again."
    return JSONResponse(body("invalid_request", message), status_code=422)


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's 400 for a JSON body that is not UTF-8: the same 422 as any other body that is not JSON.
        return await _validation_error(request, RequestValidationError([{"type": "json_invalid", "loc": ("body",)}]))
    if exc.status_code == 405:
        return _method_not_allowed(request, exc)
    code = {404: "not_found"}.get(exc.status_code, "http_error")
    return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


def _method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
    """405 naming every method served at this path: Starlette's names only the first route that matched it."""
    allowed = {method.strip() for method in (exc.headers or {}).get("Allow", "").split(",") if method.strip()}
    for template, operations in request.app.openapi()["paths"].items():
        if _fits(template, request.url.path):
            allowed |= {method.upper() for method in operations}
    methods = ", ".join(sorted(allowed))
    message = f"{request.url.path} does not answer {request.method}; it answers {methods}."
    return JSONResponse(body("method_not_allowed", message), status_code=405, headers={"Allow": methods})


def _fits(template: str, path: str) -> bool:
    """True when `path` is an instance of an OpenAPI path template such as /v1/keys/{key_id}."""
    wanted, given = template.split("/"), path.split("/")
    return len(wanted) == len(given) and all(w == g or (w.startswith("{") and g) for w, g in zip(wanted, given))


def install(app: FastAPI) -> None:
    """Route every error through the one shape."""
    app.add_exception_handler(errors.SomaError, _soma_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
