"""API keys: shown once at creation, stored as a digest, refused once revoked or expired."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.auth import ending, tokens
from soma.auth.principal import SCOPES
from soma.db import tables

_k = tables.api_keys
_PUBLIC = (_k.c.id, _k.c.prefix, _k.c.name, _k.c.scopes, _k.c.created_by, _k.c.created_at, _k.c.last_used_at,
           _k.c.expires_at, _k.c.revoked_at)  # fmt: skip
TOUCH_EVERY = datetime.timedelta(seconds=30)  # last_used_at is written at most this often per key
MAX_EXPIRES_DAYS = 36525  # a hundred years; far beyond it, the expiry date overflows


async def create(
    conn: AsyncConnection, name: str, scopes: list[str], created_by: str, expires_days: float | None = None, key: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A new key; returns (the key, to show once, its row). `key` provisions a given one (bootstrap)."""
    _check(name, scopes, expires_days)
    key = key or tokens.new_api_key()
    expires = sa.func.now() + datetime.timedelta(days=expires_days) if expires_days else None
    values = dict(token_hash=tokens.digest(key), prefix=tokens.shown_prefix(key), name=name.strip(),
                  scopes=sorted(set(scopes)), created_by=created_by, expires_at=expires)  # fmt: skip
    row = (await conn.execute(sa.insert(_k).values(values).returning(*_PUBLIC))).one()
    return key, dict(row._mapping)


async def provision(conn: AsyncConnection, key: str, name: str) -> bool:
    """Make sure an admin key exists for `key` (bootstrap.configured_key has judged it); a revoked one stays revoked.

    True when it was added.
    """
    exists = (await conn.execute(sa.select(_k.c.id).where(_k.c.token_hash == tokens.digest(key)))).first()
    if exists:
        return False
    await create(conn, name, ["admin"], "bootstrap", key=key)
    return True


async def authenticate(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    """The key's row when it is valid now, noting its use; None when unknown, revoked or expired."""
    now = sa.func.now()
    query = sa.select(*_PUBLIC).where(
        _k.c.token_hash == tokens.digest(key), _k.c.revoked_at.is_(None), sa.or_(_k.c.expires_at.is_(None), _k.c.expires_at > now)
    )
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    stale = sa.or_(_k.c.last_used_at.is_(None), _k.c.last_used_at < now - TOUCH_EVERY)
    await conn.execute(sa.update(_k).where(_k.c.id == row.id, stale).values(last_used_at=now))
    return dict(row._mapping)


async def list_all(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await conn.execute(sa.select(*_PUBLIC).order_by(_k.c.id))]


async def revoke(conn: AsyncConnection, key_id: int) -> dict[str, Any]:
    """Revoke one key (again is harmless); KeyNotFound otherwise."""
    await conn.execute(sa.update(_k).where(_k.c.id == key_id, _k.c.revoked_at.is_(None)).values(revoked_at=sa.func.now()))
    row = (await conn.execute(sa.select(*_PUBLIC).where(_k.c.id == key_id))).one_or_none()
    if row is None:
        raise errors.KeyNotFound(f"No API key has id {key_id}.")
    await ending.announce(conn, ending.KEY_REVOKED, ending.key(key_id))
    return dict(row._mapping)


async def revoke_all(conn: AsyncConnection) -> int:
    """The emergency switch: revoke every key; returns how many were live."""
    result = await conn.execute(sa.update(_k).where(_k.c.revoked_at.is_(None)).values(revoked_at=sa.func.now()))
    await ending.announce(conn, ending.KEY_REVOKED, ending.EVERY_KEY)
    return result.rowcount


async def standing(conn: AsyncConnection, key_id: int) -> tuple[str | None, float | None]:
    """(Why the key no longer holds, or None; seconds until it expires, or None: never). Notes no use: for open streams."""
    left = sa.extract("epoch", _k.c.expires_at - sa.func.now())
    row = (await conn.execute(sa.select(_k.c.revoked_at, left.label("left")).where(_k.c.id == key_id))).one_or_none()
    if row is None or row.revoked_at is not None:
        return ending.KEY_REVOKED, None
    if row.left is not None and row.left <= 0:
        return ending.KEY_EXPIRED, None
    return None, None if row.left is None else float(row.left)


def _check(name: str, scopes: list[str], expires_days: float | None) -> None:
    if not name.strip() or len(name) > 100:
        raise errors.InvalidApiKey("A key needs a name of 1–100 characters, saying what uses it.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise errors.InvalidApiKey(f"Scope {', '.join(unknown) or '(none)'} does not exist: use admin, chat or metrics.")
    if expires_days is not None and not 0 < expires_days <= MAX_EXPIRES_DAYS:
        raise errors.InvalidApiKey(f"--expires must be a number of days above 0 and at most {MAX_EXPIRES_DAYS}, not {expires_days:g}.")
