"""Server-side login sessions behind the cookie: revocable, with an idle and an absolute expiry."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.auth import ending, tokens
from soma.auth.principal import user_scopes
from soma.db import tables

_s = tables.login_sessions
_u = tables.users
TOUCH_EVERY = datetime.timedelta(seconds=30)  # last_seen_at is written at most this often per session


@dataclass(frozen=True)
class Login:
    """A valid session and its user."""

    session_id: int
    user_id: int
    username: str
    role: str
    csrf_token: str


async def start(
    conn: AsyncConnection, user_id: int, client_address: str | None, max_age: float, method: str = "password"
) -> tuple[str, str]:
    """A new session begun by `method` (password, break_glass, oidc); returns (cookie value, CSRF token). Only the cookie's digest is stored."""
    cookie, csrf = tokens.new_token(), tokens.new_token()
    expires = sa.func.now() + datetime.timedelta(seconds=max_age)
    await conn.execute(sa.insert(_s).values(token_hash=tokens.digest(cookie), user_id=user_id, csrf_token=csrf,
                                            client_address=client_address, expires_at=expires, method=method))  # fmt: skip
    return cookie, csrf


async def resolve(conn: AsyncConnection, cookie: str, idle: float) -> Login | None:
    """The session behind a cookie if it is not ended, expired, idle too long, or its user disabled."""
    now = sa.func.now()
    query = (
        sa.select(_s.c.id, _s.c.user_id, _s.c.csrf_token, _s.c.last_seen_at, _u.c.username, _u.c.role)
        .join(_u, _u.c.id == _s.c.user_id)
        .where(_s.c.token_hash == tokens.digest(cookie), _s.c.ended_at.is_(None), _s.c.expires_at > now,
               _s.c.last_seen_at > now - datetime.timedelta(seconds=idle), _u.c.disabled_at.is_(None))
    )  # fmt: skip
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    await conn.execute(
        sa.update(_s).where(_s.c.id == row.id, _s.c.last_seen_at < now - TOUCH_EVERY).values(last_seen_at=now)
    )
    return Login(row.id, row.user_id, row.username, row.role, row.csrf_token)


async def end(conn: AsyncConnection, session_id: int) -> str | None:
    """Log out: end one session, and its open streams; returns how it began (`oidc` logs out at the provider too)."""
    query = sa.update(_s).where(_s.c.id == session_id, _s.c.ended_at.is_(None)).values(ended_at=sa.func.now()).returning(_s.c.method)
    method = (await conn.execute(query)).scalar()
    await ending.announce(conn, ending.LOGGED_OUT, ending.login(session_id))
    return method


async def end_all(conn: AsyncConnection, user_id: int, reason: str) -> None:
    """End every session of a user, and their open streams; `reason` is one of soma.auth.ending's."""
    await conn.execute(sa.update(_s).where(_s.c.user_id == user_id, _s.c.ended_at.is_(None)).values(ended_at=sa.func.now()))
    await ending.announce(conn, reason, ending.user(user_id))


async def end_everyone(conn: AsyncConnection) -> int:
    """The emergency switch: end every open session of every user; returns how many were open."""
    result = await conn.execute(sa.update(_s).where(_s.c.ended_at.is_(None)).values(ended_at=sa.func.now()))
    await ending.announce(conn, ending.LOGGED_OUT, ending.EVERY_LOGIN)
    return result.rowcount


async def standing(
    conn: AsyncConnection, session_id: int, idle: float, scopes: frozenset[str]
) -> tuple[str | None, float | None]:
    """(Why the session no longer grants `scopes`, or None; seconds until it expires unless used). Notes no use: for streams."""
    until = sa.func.least(_s.c.expires_at, _s.c.last_seen_at + datetime.timedelta(seconds=idle))
    query = (
        sa.select(_s.c.ended_at, _u.c.disabled_at, _u.c.password_changed_at, _u.c.role,
                  sa.extract("epoch", until - sa.func.now()).label("left"))
        .join(_u, _u.c.id == _s.c.user_id)
        .where(_s.c.id == session_id)
    )  # fmt: skip
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return ending.LOGGED_OUT, None
    if row.disabled_at is not None:
        return ending.USER_DISABLED, None
    if row.ended_at is not None:
        # set_password ends the sessions in its own transaction: the same now()
        changed = row.password_changed_at is not None and row.password_changed_at >= row.ended_at
        return (ending.PASSWORD_CHANGED if changed else ending.LOGGED_OUT), None
    if row.left <= 0:
        return ending.SESSION_EXPIRED, None
    if not scopes <= user_scopes(row.role):
        return ending.ROLE_CHANGED, None
    return None, float(row.left)
