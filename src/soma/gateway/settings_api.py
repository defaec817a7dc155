"""/v1/settings: read and change the agent's settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from soma.audit import log as audit
from soma.gateway import access
from soma.settings import store

router = APIRouter(prefix="/v1/settings", tags=["settings"])


@router.get("")
async def get_settings(request: Request) -> dict[str, Any]:
    """Every setting, its version and when it last changed."""
    async with request.app.state.engine.connect() as conn:
        return await store.describe(conn)


# The body is read as a dict so store.update can name every bad key at once; documented as what it holds.
CHANGES = {"requestBody": {"content": {"application/json": {"schema": store.AgentSettings.model_json_schema()}}}}


@router.put("", dependencies=[Depends(access.require_admin)], openapi_extra=CHANGES)
async def put_settings(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Change some settings (admins only); unknown keys or bad values change nothing (422)."""
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        updated = await store.update(conn, changes)
        details = {"changed": sorted(changes), "version": updated.get("version")}
        await audit.record(conn, "settings.updated", caller.actor, "agent settings", details, access.client_address(request))
        return updated
