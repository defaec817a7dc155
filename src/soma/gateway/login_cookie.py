"""The login cookie: set when a session starts (password, setup link, single sign-on), cleared at logout."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.auth import logins
from soma.gateway import access, authn


async def start_session(
    request: Request, response: Response, conn: AsyncConnection, user: dict[str, Any], max_age: float, method: str
) -> str:
    """A new session for `user` lasting at most `max_age` seconds, its cookie set on `response`; returns its CSRF token."""
    cookie, csrf = await logins.start(conn, user["id"], access.client_address(request), max_age, method)
    name, secure = authn.cookie_name_and_secure(request.scope, request.headers)
    response.set_cookie(name, cookie, max_age=int(max_age), path="/", secure=secure, httponly=True, samesite="lax")
    return csrf


def clear(request: Request, response: Response) -> None:
    """Tell the browser to drop the login cookie."""
    name, secure = authn.cookie_name_and_secure(request.scope, request.headers)
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
