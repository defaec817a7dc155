"""Server-side login sessions behind the cookie: revocable, with an idle and an absolute expiry."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.auth import tokens
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


async def start(conn: AsyncConnection, user_id: int, client_address: str | None, max_age: float) -> tuple[str, str]:
    """A new session; returns (cookie value, CSRF token). Only the cookie's digest is stored."""
    cookie, csrf = tokens.new_token(), tokens.new_token()
    expires = sa.func.now() + datetime.timedelta(seconds=max_age)
    await conn.execute(sa.insert(_s).values(token_hash=tokens.digest(cookie), user_id=user_id, csrf_token=csrf,
                                            client_address=client_address, expires_at=expires))  # fmt: skip
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


async def end(conn: AsyncConnection, session_id: int) -> None:
    await conn.execute(sa.update(_s).where(_s.c.id == session_id, _s.c.ended_at.is_(None)).values(ended_at=sa.func.now()))


async def end_all(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(sa.update(_s).where(_s.c.user_id == user_id, _s.c.ended_at.is_(None)).values(ended_at=sa.func.now()))


async def end_everyone(conn: AsyncConnection) -> int:
    """The emergency switch: end every open session of every user; returns how many were open."""
    result = await conn.execute(sa.update(_s).where(_s.c.ended_at.is_(None)).values(ended_at=sa.func.now()))
    return result.rowcount
