"""Admin-only: GET /v1/tunnel (wanted and observed state) and PUT /v1/tunnel (open or close it, guarded and audited)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from soma import errors
from soma.auth import admin
from soma.gateway import access, openapi
from soma.tunnel import state

router = APIRouter(prefix="/v1", tags=["tunnel"], dependencies=[Depends(access.require_admin)])


class TunnelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    mode: Literal[state.MODES] | None = None  # type: ignore[valid-type]


@router.get("/tunnel")
async def show(request: Request) -> dict[str, Any]:
    """The tunnel as wanted and as last reported, with the origin cloudflared is pointed at (the gateways' tunnel door).

    `blocked_by` is what keeps it from opening now, each naming its fix (empty: it may open), so the
    web UI disables its switch and says why before anyone tries.
    """
    settings = request.app.state.settings
    async with request.app.state.engine.connect() as conn:
        return {**state.shown(await state.read(conn), settings), "blocked_by": await state.problems(conn, settings)}


@router.put("/tunnel", responses=openapi.raises(errors.TunnelRefused))
async def change(request: Request, body: TunnelChange) -> dict[str, Any]:
    """409 `tunnel_refused` naming what to fix when opening it would expose an unprotected Soma."""
    actor = admin.Actor(access.principal(request).actor, access.client_address(request))
    settings = request.app.state.settings
    async with request.app.state.engine.begin() as conn:
        row = await state.switch(conn, actor, settings, body.enabled, body.mode)
        return {**state.shown(row, settings), "blocked_by": await state.problems(conn, settings)}
