"""Admin-only: /v1/users, /v1/keys (revoke one or all) and /v1/audit. Every change is audited."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.audit import log as audit
from soma.auth import keys, passwords, users
from soma.gateway import access

router = APIRouter(prefix="/v1", tags=["admin"], dependencies=[Depends(access.require_admin)])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)
    role: Literal["admin", "member"] = "member"


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disabled: bool | None = None
    role: Literal["admin", "member"] | None = None
    password: str | None = Field(None, min_length=1, max_length=passwords.MAX_LENGTH)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["admin", "chat", "metrics"]] = Field(min_length=1)
    expires_days: float | None = Field(None, gt=0)


@router.get("/users")
async def list_users(request: Request) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        return {"users": await users.list_all(conn)}


@router.post("/users", status_code=201)
async def create_user(request: Request, body: NewUser) -> dict[str, Any]:
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        user = await users.create(conn, body.username, body.password, body.role)
        await audit.record(conn, "user.created", caller.actor, user["username"], {"role": body.role}, access.client_address(request))
    return user


@router.patch("/users/{user_id}")
async def change_user(request: Request, user_id: int, body: UserChange) -> dict[str, Any]:
    """Disable or enable (disabling ends their sessions), change the role, or reset the password."""
    caller = access.principal(request)
    address = access.client_address(request)
    if caller.kind == "user" and caller.id == user_id and (body.disabled or body.role == "member"):
        raise errors.Forbidden("You cannot disable or demote your own account; another admin can.")
    async with request.app.state.engine.begin() as conn:
        user = await users.get(conn, user_id)
        if body.password is not None:
            await users.set_password(conn, user_id, body.password)
            await audit.record(conn, "user.password.reset", caller.actor, user["username"], {}, address)
        if body.role is not None and body.role != user["role"]:
            user = await users.set_role(conn, user_id, body.role)
            await audit.record(conn, "user.role.changed", caller.actor, user["username"], {"role": body.role}, address)
        if body.disabled is not None and body.disabled != (user["disabled_at"] is not None):
            user = await users.set_disabled(conn, user_id, body.disabled)
            action = "user.disabled" if body.disabled else "user.enabled"
            await audit.record(conn, action, caller.actor, user["username"], {}, address)
        return await users.get(conn, user_id)


@router.get("/keys")
async def list_keys(request: Request) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        return {"keys": await keys.list_all(conn)}


@router.post("/keys", status_code=201)
async def create_key(request: Request, body: NewKey) -> dict[str, Any]:
    """A new key, shown in this response only."""
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        key, row = await keys.create(conn, body.name, list(body.scopes), caller.actor, body.expires_days)
        details = {"key_id": row["id"], "prefix": row["prefix"], "scopes": row["scopes"]}
        await audit.record(conn, "key.created", caller.actor, row["name"], details, access.client_address(request))
    return {**row, "key": key}


@router.delete("/keys/{key_id}")
async def revoke_key(request: Request, key_id: int) -> dict[str, Any]:
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        row = await keys.revoke(conn, key_id)
        details = {"key_id": key_id, "prefix": row["prefix"]}
        await audit.record(conn, "key.revoked", caller.actor, row["name"], details, access.client_address(request))
    return row


@router.post("/keys/revoke-all")
async def revoke_all_keys(request: Request) -> dict[str, int]:
    """The emergency switch: every API key stops working on its next request; login sessions go on."""
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        count = await keys.revoke_all(conn)
        await audit.record(conn, "key.revoked_all", caller.actor, "*", {"revoked": count}, access.client_address(request))
    return {"revoked": count}


@router.get("/audit")
async def read_audit(
    request: Request,
    action: str | None = Query(None, description="Only this action, e.g. auth.login.failed."),
    since: datetime.datetime | None = Query(None, description="Only entries at or after this time (ISO 8601)."),
    until: datetime.datetime | None = Query(None, description="Only entries before this time (ISO 8601)."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """The audit log, newest first."""
    async with request.app.state.engine.connect() as conn:
        return {"entries": await audit.entries(conn, action=action, since=since, until=until, limit=limit)}
