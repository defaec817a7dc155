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
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_PUBLIC = (_u.c.id, _u.c.username, _u.c.role, _u.c.created_at, _u.c.password_changed_at, _u.c.disabled_at, _u.c.email,
           _u.c.break_glass, _u.c.oidc_subject.is_not(None).label("sso"))  # fmt: skip


async def count(conn: AsyncConnection) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(_u))).scalar_one()


async def create(conn: AsyncConnection, username: str, password: str, role: str, break_glass: bool = False) -> dict[str, Any]:
    """A new user; InvalidUser or UsernameTaken naming the problem. `break_glass`: an admin whose password works with local login off."""
    _check(username, role)
    if break_glass and role != "admin":
        raise errors.InvalidUser("Only an admin can be break-glass: add --role admin.")
    password_hash = passwords.hash_password(password)
    if await find(conn, username) is not None:
        raise errors.UsernameTaken(f"A user named {username!r} exists.")
    values = dict(username=username, password_hash=password_hash, role=role, break_glass=break_glass)
    return dict((await conn.execute(sa.insert(_u).values(values).returning(*_PUBLIC))).one()._mapping)


async def invite(conn: AsyncConnection, username: str, email: str, role: str) -> dict[str, Any]:
    """An account without a password awaiting the single sign-on of `email` (SOMA_OIDC_PROVISIONING=invite binds it)."""
    _check(username, role)
    if not EMAIL.fullmatch(email):
        raise errors.InvalidUser(f"E-mail {email!r} is not an address: give one like ann@example.org.")
    if await find(conn, username) is not None:
        raise errors.UsernameTaken(f"A user named {username!r} exists.")
    waiting = sa.select(_u.c.username).where(sa.func.lower(_u.c.email) == email.lower(), _u.c.oidc_subject.is_(None))
    if (taken := (await conn.execute(waiting)).scalar()) is not None:
        raise errors.UsernameTaken(f"The account {taken!r} already awaits {email!r}.")
    values = dict(username=username, password_hash="", role=role, email=email)
    return dict((await conn.execute(sa.insert(_u).values(values).returning(*_PUBLIC))).one()._mapping)


def _check(username: str, role: str) -> None:
    if not USERNAME.fullmatch(username):
        raise errors.InvalidUser(f"Username {username!r} is not allowed: use 1–64 letters, digits or . _ @ -, starting with a letter or digit.")
    if role not in ROLES:
        raise errors.InvalidUser(f"Role {role!r} does not exist: use admin or member.")


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
