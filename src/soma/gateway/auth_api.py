"""/v1/auth: log in and out, who am I, change my password, and the first admin's setup."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.audit import log as audit
from soma.auth import logins, passwords, ratelimit, setup_links, users
from soma.auth.principal import user_scopes
from soma.gateway import access, bodies, login_cookie, oidc_api, openapi

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: bodies.Text = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class Setup(Credentials):
    token: str = Field(min_length=1, max_length=200)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


@router.post("/login", responses=openapi.raises(errors.LoginFailed, errors.TooManyLoginAttempts, errors.LocalLoginOff))
async def login(request: Request, response: Response, body: Credentials) -> dict[str, Any]:
    """Check the password and start a session in a `__Host-` cookie; rate-limited per account and address.

    With SOMA_LOCAL_LOGIN=false only break-glass admins may (403 `local_login_off` for the others, once the password
    is right, so the refusal tells nobody which accounts are break-glass); each such login is audited `auth.login`
    with `method: break_glass`.
    """
    address = access.client_address(request)
    engine = request.app.state.engine
    async with engine.begin() as conn:
        await ratelimit.check(conn, body.username, address)
        user = await users.find(conn, body.username)
    valid = passwords.verify(user["password_hash"] if user else None, body.password)
    if not valid or user is None or user["disabled_at"] is not None:
        async with engine.begin() as conn:  # committed before refusing: the rate limit counts these
            await audit.record(conn, ratelimit.FAILED, f"user:{body.username}", body.username.lower(), {}, address)
        raise errors.LoginFailed()
    settings = request.app.state.settings
    break_glass = not settings.local_login
    if break_glass and not user["break_glass"]:
        raise errors.LocalLoginOff()
    async with engine.begin() as conn:
        csrf = await login_cookie.start_session(
            request, response, conn, user, settings.session_max_seconds, "break_glass" if break_glass else "password"
        )
        if break_glass:
            await audit.record(conn, "auth.login", f"user:{user['username']}", user["username"].lower(), {"method": "break_glass"}, address)
        else:
            await audit.record(conn, "auth.login.succeeded", f"user:{user['username']}", user["username"].lower(), {}, address)
    return _me(user["username"], user["role"], csrf)


@router.post("/logout")
async def logout(request: Request, response: Response) -> dict[str, str]:
    """End this login session (API keys have no session: revoke them instead).

    A session begun with single sign-on also gets `end_session_url`, the provider's end-session endpoint coming back
    to /login, when the provider has one: the UI goes there, so the provider's own session ends too.
    """
    caller = access.principal(request)
    method = None
    if caller.session_id is not None:
        async with request.app.state.engine.begin() as conn:
            method = await logins.end(conn, caller.session_id)
            await audit.record(conn, "auth.logout", caller.actor, caller.name.lower(), {}, access.client_address(request))
    login_cookie.clear(request, response)
    answer = {"status": "logged out"}
    if method == "oidc" and (provider := oidc_api.provider_of(request.app)) is not None:
        if url := await provider.end_session_url(oidc_api.origin(request) + "/login"):
            answer["end_session_url"] = url
    return answer


@router.get("/me")
async def me(request: Request) -> dict[str, Any]:
    """The caller, and for a cookie session the CSRF token its state-changing requests must send."""
    caller = access.principal(request)
    role = "admin" if caller.is_admin else "member"
    return {**_me(caller.name, role, caller.csrf_token), "kind": caller.kind, "scopes": sorted(caller.scopes)}


@router.post("/password")
async def change_password(request: Request, response: Response, body: PasswordChange) -> dict[str, str]:
    """Change your own password; every session of yours ends, this one included."""
    caller = access.principal(request)
    if caller.kind != "user":
        raise errors.KeysHaveNoPassword()
    async with request.app.state.engine.begin() as conn:
        user = await users.find(conn, caller.name)
        if user is None or not passwords.verify(user["password_hash"], body.current_password):
            raise errors.WrongPassword()
        await users.set_password(conn, caller.id, body.new_password)
        await audit.record(conn, "auth.password.changed", caller.actor, caller.name.lower(), {}, access.client_address(request))
    login_cookie.clear(request, response)
    return {"status": "password changed; log in again"}


@router.post("/setup", responses=openapi.raises(errors.SetupLinkInvalid, errors.SetupDone))
async def setup(request: Request, response: Response, body: Setup) -> dict[str, Any]:
    """Use the one-time setup link to create the first admin, and log them in."""
    async with request.app.state.engine.begin() as conn:
        if not await setup_links.consume(conn, body.token):
            raise errors.SetupLinkInvalid()
        if await users.count(conn) > 0:
            raise errors.SetupDone()
        user = await users.create(conn, body.username, body.password, "admin")
        user = await users.find(conn, user["username"])
        csrf = await login_cookie.start_session(request, response, conn, user, request.app.state.settings.session_max_seconds, "password")
        await audit.record(conn, "auth.setup.completed", f"user:{user['username']}", user["username"].lower(), {}, access.client_address(request))
    return _me(user["username"], "admin", csrf)


def _me(username: str, role: str, csrf: str | None) -> dict[str, Any]:
    return {"username": username, "role": role, "scopes": sorted(user_scopes(role)), "csrf_token": csrf}
