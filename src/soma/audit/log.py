"""Appending to the audit log. Callers pass facts, never secrets: details are stored as given."""

from __future__ import annotations

import datetime
import getpass
import socket
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.audit import actions
from soma.db import tables


async def record(
    conn: AsyncConnection,
    action: str,
    actor: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    client_address: str | None = None,
) -> int:
    """Append one entry in the caller's transaction, so the act and its record commit together; returns its id.

    `action` must be in actions.ACTIONS (a ValueError otherwise): the catalogue the Admin page filters by never misses one.
    """
    if action not in actions.ACTIONS:
        raise ValueError(f"audit action {action!r} is not in soma.audit.actions.ACTIONS: add it there (and to docs/security.md)")
    row = {"action": action, "actor": actor, "target": target, "details": details or {}, "client_address": client_address}
    return (await conn.execute(sa.insert(tables.audit_log).values(row).returning(tables.audit_log.c.id))).scalar_one()


async def page(
    conn: AsyncConnection,
    action: str | None = None,
    actor: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Up to `limit` entries, newest first, filtered, with ids below `before`.

    `next` is the `before` of the following page, or None on the last: ids only grow, so pages
    never repeat or skip an entry, even while new ones are written.
    """
    a = tables.audit_log
    query = sa.select(a).order_by(a.c.id.desc()).limit(limit + 1)
    filters = {a.c.action.__eq__: action, a.c.actor.__eq__: actor, a.c.at.__ge__: since, a.c.at.__lt__: until, a.c.id.__lt__: before}
    for condition, value in filters.items():
        if value is not None:
            query = query.where(condition(value))
    rows = [dict(row._mapping) for row in await conn.execute(query)]
    entries = rows[:limit]
    return {"entries": entries, "next": entries[-1]["id"] if len(rows) > limit else None}


def cli_actor() -> str:
    """Who runs a `soma` command, as the operating system knows them."""
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"
