"""Probes: /health says the process serves (touching nothing); /ready says PostgreSQL and the schema are fit."""

from __future__ import annotations

import asyncio

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
    """Readiness: 200 when PostgreSQL answers and the schema is current, else 503 naming what is wrong."""
    try:
        await asyncio.wait_for(migrate.check(request.app.state.engine), READY_TIMEOUT)
    except errors.SchemaBehind as exc:
        return _unready("schema", exc.message)
    except TimeoutError:
        return _unready("database", f"PostgreSQL did not answer within {READY_TIMEOUT:.0f}s.")
    except Exception as exc:  # any driver error means the database is not usable
        return _unready("database", errors.DatabaseUnavailable(f"{type(exc).__name__}: {_first_line(exc)}").message)
    return JSONResponse({"status": "ready", "checks": {"database": "ok", "schema": "ok"}})


def _unready(check: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "checks": {check: message}}, status_code=503)


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
