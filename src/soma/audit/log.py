"""Appending to the audit log. Callers pass facts, never secrets: details are stored as given."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables


async def record(
    conn: AsyncConnection,
    action: str,
    actor: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    client_address: str | None = None,
) -> int:
    """Append one entry in the caller's transaction, so the act and its record commit together; returns its id."""
    row = {"action": action, "actor": actor, "target": target, "details": details or {}, "client_address": client_address}
    return (await conn.execute(sa.insert(tables.audit_log).values(row).returning(tables.audit_log.c.id))).scalar_one()


async def entries(conn: AsyncConnection, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest entries first, optionally of one action."""
    query = sa.select(tables.audit_log).order_by(tables.audit_log.c.id.desc()).limit(limit)
    if action:
        query = query.where(tables.audit_log.c.action == action)
    return [dict(row._mapping) for row in await conn.execute(query)]
