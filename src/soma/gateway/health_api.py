"""Probes: /health says the process serves (touching nothing); /ready says PostgreSQL and the schema are fit, and no lockdown is on.

/ready also reports the SLM key, but a missing key does not make it 503: reads and streams still work,
and taking every gateway out of service would turn a revoked key into a full outage.

Under `soma up`, /ready also names each of its other children (worker, tunnel, sandbox, local SLM, postgres)
and says which is down while `soma up` starts it again. A down worker makes it 200 "degraded", not 503:
this gateway still takes messages, and their turns run once the worker is back.
"""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from soma import errors, supervise
from soma.db import schema
from soma.embeddings import reembed
from soma.gateway import database_down

router = APIRouter()

READY_TIMEOUT = 5.0  # seconds; a probe must answer before Kubernetes' own timeout


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: 200 while this process serves requests."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Not ready: `checks` names what is wrong.", "content": {"application/json": {"schema": {"type": "object"}}}}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when PostgreSQL answers and the schema is current, else 503 naming what is wrong.

    Under the emergency lockdown 503 with `"lockdown": true`, so load balancers drain every gateway.
    """
    if getattr(request.app.state, "lockdown", None) and request.app.state.lockdown.active:
        message = errors.Lockdown().message
        return JSONResponse({"status": "lockdown", "lockdown": True, "checks": {"lockdown": message}}, status_code=503)
    try:
        await asyncio.wait_for(schema.check(request.app.state.engine), READY_TIMEOUT)
    except errors.SchemaBehind as exc:
        return _unready(request, "schema", exc.message)
    except TimeoutError:
        return _unready(request, "database", f"PostgreSQL did not answer within {READY_TIMEOUT:.0f}s.")
    except Exception as exc:  # any driver error means the database is not usable
        return _unready(request, "database", errors.DatabaseUnavailable(database_down.describe(exc)).message)
    checks = {"database": "ok", "schema": "ok", "slm_key": _slm_key(request), **_siblings(request)}
    status = "ready" if all(v == "ok" for v in checks.values()) else "degraded"
    body: dict[str, object] = {"status": status, "checks": checks}
    if reembedding := await _reembedding(request):  # search works meanwhile: it does not make Soma less ready
        body["reembedding"] = reembedding
    return JSONResponse(body)


async def _reembedding(request: Request) -> dict[str, int] | None:
    """{"done", "total"} while vectors of another embedder are being re-embedded (soma.embeddings.reembed)."""
    async with request.app.state.engine.connect() as conn:
        return await asyncio.wait_for(reembed.progress(conn), READY_TIMEOUT)


def _siblings(request: Request) -> dict[str, str]:
    """The other children of the `soma up` that started this gateway, from the file it keeps; empty otherwise."""
    children = supervise.read_state(request.app.state.settings.data_dir, os.getppid())
    children.pop("gateway", None)  # this process: it answers
    return children


def _slm_key(request: Request) -> str:
    """"ok", or why turns will fail with slm_auth."""
    keys = request.app.state.keys
    reading = keys.current()
    if reading.value is None:
        return f"missing: {reading.missing} ({reading.origin}); turns fail with slm_auth until a key is stored there"
    if keys.stale_since is not None:
        return f"ok (cannot re-read {keys.source.name} for {time.monotonic() - keys.stale_since:.0f}s; using the last key read)"
    return "ok"


def _unready(request: Request, check: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "checks": {check: message, **_siblings(request)}}, status_code=503)
