"""Appending to the audit log. Callers pass facts, never secrets: details are stored as given."""

from __future__ import annotations

import datetime
import getpass
import socket
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


async def entries(
    conn: AsyncConnection,
    action: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest entries first, filtered by action and time."""
    a = tables.audit_log
    query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
    if action:
        query = query.where(a.c.action == action)
    if since:
        query = query.where(a.c.at >= since)
    if until:
        query = query.where(a.c.at < until)
    return [dict(row._mapping) for row in await conn.execute(query)]


def cli_actor() -> str:
    """Who runs a `soma` command, as the operating system knows them."""
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"
