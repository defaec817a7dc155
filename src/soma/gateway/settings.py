"""/v1/settings: read and change the agent's settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from soma.settings import store

router = APIRouter(prefix="/v1/settings", tags=["settings"])


@router.get("")
async def get_settings(request: Request) -> dict[str, Any]:
    """Every setting, its version and when it last changed."""
    async with request.app.state.engine.connect() as conn:
        return await store.describe(conn)


@router.put("")
async def put_settings(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Change some settings; unknown keys or bad values change nothing (422)."""
    async with request.app.state.engine.begin() as conn:
        return await store.update(conn, changes)
