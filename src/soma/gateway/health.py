"""Probes: /health says the process serves (touching nothing); /ready says PostgreSQL and the schema are fit, and no lockdown is on.

/ready also reports the SLM key, but a missing key does not make it 503: reads and streams still work,
and taking every gateway out of service would turn a revoked key into a full outage.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from soma import errors
from soma.db import migrate

router = APIRouter()

READY_TIMEOUT = 5.0  # seconds; a probe must answer before Kubernetes' own timeout


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: 200 while this process serves requests."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when PostgreSQL answers and the schema is current, else 503 naming what is wrong.

    Under the emergency lockdown 503 with `"lockdown": true`, so load balancers drain every gateway.
    """
    if getattr(request.app.state, "lockdown", None) and request.app.state.lockdown.active:
        message = errors.Lockdown().message
        return JSONResponse({"status": "lockdown", "lockdown": True, "checks": {"lockdown": message}}, status_code=503)
    try:
        await asyncio.wait_for(migrate.check(request.app.state.engine), READY_TIMEOUT)
    except errors.SchemaBehind as exc:
        return _unready("schema", exc.message)
    except TimeoutError:
        return _unready("database", f"PostgreSQL did not answer within {READY_TIMEOUT:.0f}s.")
    except Exception as exc:  # any driver error means the database is not usable
        return _unready("database", errors.DatabaseUnavailable(f"{type(exc).__name__}: {_first_line(exc)}").message)
    key = _slm_key(request)
    status = "ready" if key == "ok" else "degraded"
    return JSONResponse({"status": status, "checks": {"database": "ok", "schema": "ok", "slm_key": key}})


def _slm_key(request: Request) -> str:
    """"ok", or why turns will fail with slm_auth."""
    keys = request.app.state.keys
    reading = keys.current()
    if reading.value is None:
        return f"missing: {reading.missing} ({reading.origin}); turns fail with slm_auth until a key is stored there"
    if keys.stale_since is not None:
        return f"ok (cannot re-read {keys.source.name} for {time.monotonic() - keys.stale_since:.0f}s; using the last key read)"
    return "ok"


def _unready(check: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "checks": {check: message}}, status_code=503)


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
