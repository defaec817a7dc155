"""Users: create, find, list, disable, change passwords. A disabled user's sessions end at once."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.auth import ending, logins, passwords
from soma.auth.principal import ROLES, user_scopes
from soma.db import tables

_u = tables.users
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_PUBLIC = (_u.c.id, _u.c.username, _u.c.role, _u.c.created_at, _u.c.password_changed_at, _u.c.disabled_at)


async def count(conn: AsyncConnection) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(_u))).scalar_one()


async def create(conn: AsyncConnection, username: str, password: str, role: str) -> dict[str, Any]:
    """A new user; InvalidUser or UsernameTaken naming the problem."""
    if not USERNAME.fullmatch(username):
        raise errors.InvalidUser(f"Username {username!r} is not allowed: use 1–64 letters, digits or . _ @ -, starting with a letter or digit.")
    if role not in ROLES:
        raise errors.InvalidUser(f"Role {role!r} does not exist: use admin or member.")
    password_hash = passwords.hash_password(password)
    if await find(conn, username) is not None:
        raise errors.UsernameTaken(f"A user named {username!r} exists.")
    row = await conn.execute(sa.insert(_u).values(username=username, password_hash=password_hash, role=role).returning(*_PUBLIC))
    return dict(row.one()._mapping)


async def find(conn: AsyncConnection, username: str) -> dict[str, Any] | None:
    """A user with their password hash, by case-insensitive name."""
    row = await conn.execute(sa.select(_u).where(sa.func.lower(_u.c.username) == username.lower()))
    found = row.one_or_none()
    return dict(found._mapping) if found else None


async def get(conn: AsyncConnection, user_id: int) -> dict[str, Any]:
    row = (await conn.execute(sa.select(*_PUBLIC).where(_u.c.id == user_id))).one_or_none()
    if row is None:
        raise errors.UserNotFound(f"No user has id {user_id}.")
    return dict(row._mapping)


async def list_all(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await conn.execute(sa.select(*_PUBLIC).order_by(_u.c.id))]


async def set_disabled(conn: AsyncConnection, user_id: int, disabled: bool) -> dict[str, Any]:
    """Disable (ending every session) or enable a user."""
    await get(conn, user_id)
    value = sa.func.now() if disabled else None
    await conn.execute(sa.update(_u).where(_u.c.id == user_id).values(disabled_at=value))
    if disabled:
        await logins.end_all(conn, user_id, ending.USER_DISABLED)
    return await get(conn, user_id)


async def set_password(conn: AsyncConnection, user_id: int, password: str) -> None:
    """Change the password and end every session of the user."""
    await get(conn, user_id)
    password_hash = passwords.hash_password(password)
    await conn.execute(sa.update(_u).where(_u.c.id == user_id).values(password_hash=password_hash, password_changed_at=sa.func.now()))
    await logins.end_all(conn, user_id, ending.PASSWORD_CHANGED)


async def set_role(conn: AsyncConnection, user_id: int, role: str) -> dict[str, Any]:
    """Change the role; when it narrows the user's scopes, their open streams end (clients reconnect, authorized afresh)."""
    if role not in ROLES:
        raise errors.InvalidUser(f"Role {role!r} does not exist: use admin or member.")
    before = await get(conn, user_id)
    await conn.execute(sa.update(_u).where(_u.c.id == user_id).values(role=role))
    if not user_scopes(before["role"]) <= user_scopes(role):
        await ending.announce(conn, ending.ROLE_CHANGED, ending.user(user_id))
    return await get(conn, user_id)
