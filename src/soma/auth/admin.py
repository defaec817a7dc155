"""Administrative acts on users and keys, each with its audit entry in the same transaction.

The API (gateway/admin_api.py) and the CLI (cli/access.py) both call these, so an act is
recorded the same way whichever door it came through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma.audit import log as audit
from soma.auth import keys, users


@dataclass(frozen=True)
class Actor:
    """Who acts: an audit actor name (`user:ann`, `key:ci`, `cli:root@host`) and, over HTTP, the client address."""

    name: str
    address: str | None = None

    async def record(self, conn: AsyncConnection, action: str, target: str, details: dict[str, Any] | None = None) -> None:
        await audit.record(conn, action, self.name, target, details or {}, self.address)


async def create_user(conn: AsyncConnection, actor: Actor, username: str, password: str, role: str, break_glass: bool = False) -> dict[str, Any]:
    """A user with a password; `break_glass` (the CLI only) lets it log in with local login off."""
    user = await users.create(conn, username, password, role, break_glass)
    await actor.record(conn, "user.created", user["username"], {"role": role, **({"break_glass": True} if break_glass else {})})
    return user


async def invite_user(conn: AsyncConnection, actor: Actor, username: str, email: str, role: str) -> dict[str, Any]:
    """An account the single sign-on of `email` binds (invite provisioning)."""
    user = await users.invite(conn, username, email, role)
    await actor.record(conn, "user.invited", user["username"], {"role": role, "email": email})
    return user


async def reset_password(conn: AsyncConnection, actor: Actor, user: dict[str, Any], password: str) -> None:
    """Set the password; every session of the user ends."""
    await users.set_password(conn, user["id"], password)
    await actor.record(conn, "user.password.reset", user["username"])


async def change_role(conn: AsyncConnection, actor: Actor, user: dict[str, Any], role: str) -> dict[str, Any]:
    changed = await users.set_role(conn, user["id"], role)
    await actor.record(conn, "user.role.changed", user["username"], {"role": role})
    return changed


async def set_disabled(conn: AsyncConnection, actor: Actor, user: dict[str, Any], disabled: bool) -> dict[str, Any]:
    """Disable (ending every session of the user) or enable."""
    changed = await users.set_disabled(conn, user["id"], disabled)
    await actor.record(conn, "user.disabled" if disabled else "user.enabled", user["username"])
    return changed


async def create_key(
    conn: AsyncConnection, actor: Actor, name: str, scopes: list[str], expires_days: float | None
) -> tuple[str, dict[str, Any]]:
    """A new key (returned once) and its row; the audit entry has its id and prefix, never the key."""
    key, row = await keys.create(conn, name, scopes, actor.name, expires_days)
    await actor.record(conn, "key.created", row["name"], {"key_id": row["id"], "prefix": row["prefix"], "scopes": row["scopes"]})
    return key, row


async def revoke_key(conn: AsyncConnection, actor: Actor, key_id: int) -> dict[str, Any]:
    row = await keys.revoke(conn, key_id)
    await actor.record(conn, "key.revoked", row["name"], {"key_id": key_id, "prefix": row["prefix"]})
    return row


async def revoke_all_keys(conn: AsyncConnection, actor: Actor) -> int:
    """The emergency switch; returns how many keys were live."""
    count = await keys.revoke_all(conn)
    await actor.record(conn, "key.revoked_all", "*", {"revoked": count})
    return count
