"""Admin-only: /v1/users, /v1/keys (revoke one or all) and /v1/audit. Every change is audited."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.audit import log as audit
from soma.auth import admin, keys, passwords, principal, users
from soma.gateway import access, bodies, openapi, params

router = APIRouter(prefix="/v1", tags=["admin"], dependencies=[Depends(access.require_admin)])


# Literal of a tuple is Literal of its items: the roles and scopes are spelt once, in principal.py.
Role = Literal[principal.ROLES]  # type: ignore[valid-type]
Scope = Literal[principal.SCOPES]  # type: ignore[valid-type]


# Documented, not validated here: passwords.check_acceptable and users.create refuse with messages that name the rule.
NEW_PASSWORD = {"minLength": passwords.MIN_LENGTH}


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: bodies.Text = Field(min_length=1, max_length=64, json_schema_extra={"pattern": users.USERNAME.pattern})
    password: str | None = Field(None, min_length=1, max_length=passwords.MAX_LENGTH, json_schema_extra=NEW_PASSWORD)
    email: bodies.Text | None = Field(None, min_length=3, max_length=320, description="Instead of a password: invite this e-mail to sign in with SSO.")
    role: Role = "member"  # the web UI's form starts from this too (GET /v1/meta)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disabled: bool | None = None
    role: Role | None = None
    password: str | None = Field(None, min_length=1, max_length=passwords.MAX_LENGTH, json_schema_extra=NEW_PASSWORD)




class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: bodies.Text = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    expires_days: float | None = Field(None, gt=0, le=keys.MAX_EXPIRES_DAYS)


@router.get("/users")
async def list_users(request: Request) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        return {"users": await users.list_all(conn)}


@router.post("/users", status_code=201, responses=openapi.raises(errors.UsernameTaken))
async def create_user(request: Request, body: NewUser) -> dict[str, Any]:
    """A user with a password, or (with `email` instead) an account awaiting that e-mail's single sign-on."""
    if (body.password is None) == (body.email is None):
        raise errors.InvalidUser("Give a password, or an e-mail to invite for single sign-on; not both, not neither.")
    async with request.app.state.engine.begin() as conn:
        if body.email is not None:
            return await admin.invite_user(conn, _actor(request), body.username, body.email, body.role)
        return await admin.create_user(conn, _actor(request), body.username, body.password, body.role)


@router.patch("/users/{user_id}")
async def change_user(request: Request, user_id: params.RowId, body: UserChange) -> dict[str, Any]:
    """Disable or enable (disabling ends their sessions), change the role, or reset the password."""
    caller = access.principal(request)
    if caller.kind == "user" and caller.id == user_id and (body.disabled or body.role == "member"):
        raise errors.OwnAccountLocked()
    actor = _actor(request)
    async with request.app.state.engine.begin() as conn:
        user = await users.get(conn, user_id)
        if body.password is not None:
            await admin.reset_password(conn, actor, user, body.password)
        if body.role is not None and body.role != user["role"]:
            user = await admin.change_role(conn, actor, user, body.role)
        if body.disabled is not None and body.disabled != (user["disabled_at"] is not None):
            user = await admin.set_disabled(conn, actor, user, body.disabled)
        return await users.get(conn, user_id)


@router.get("/keys")
async def list_keys(request: Request) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        return {"keys": await keys.list_all(conn)}


@router.post("/keys", status_code=201)
async def create_key(request: Request, body: NewKey) -> dict[str, Any]:
    """A new key, shown in this response only."""
    async with request.app.state.engine.begin() as conn:
        key, row = await admin.create_key(conn, _actor(request), body.name, list(body.scopes), body.expires_days)
    return {**row, "key": key}


@router.delete("/keys/{key_id}")
async def revoke_key(request: Request, key_id: params.RowId) -> dict[str, Any]:
    async with request.app.state.engine.begin() as conn:
        return await admin.revoke_key(conn, _actor(request), key_id)


@router.post("/keys/revoke-all")
async def revoke_all_keys(request: Request) -> dict[str, int]:
    """The emergency switch: every API key stops working on its next request; login sessions go on."""
    async with request.app.state.engine.begin() as conn:
        return {"revoked": await admin.revoke_all_keys(conn, _actor(request))}


def _actor(request: Request) -> admin.Actor:
    return admin.Actor(access.principal(request).actor, access.client_address(request))


@router.get("/audit")
async def read_audit(
    request: Request,
    action: bodies.Text | None = Query(None, max_length=200, description="Only this action, e.g. auth.login.failed."),
    actor: bodies.Text | None = Query(None, max_length=300, description="Only this actor, e.g. user:ann, key:3 or cli:root@host."),
    since: datetime.datetime | None = Query(None, description="Only entries at or after this time (ISO 8601)."),
    until: datetime.datetime | None = Query(None, description="Only entries before this time (ISO 8601)."),
    before: params.RowId | None = Query(None, description="Page the log: the `next` of the previous page."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """The audit log, newest first, a page at a time; `next` is None on the last page."""
    async with request.app.state.engine.connect() as conn:
        return await audit.page(conn, action=action, actor=actor, since=since, until=until, before=before, limit=limit)
