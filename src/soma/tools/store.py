"""The configured tool servers (table tool_servers): read, put, removed and replaced, each change audited and announced.

Every write NOTIFYs CHANNEL in its transaction, so each worker's pool (soma.tools.pool) connects,
reconnects or closes within a moment of the commit. A disabled server's catalogue row is written
here too; an enabled one's by whichever process connects to it next (catalogue.probe, a worker).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import config, errors
from soma.auth import admin
from soma.db import tables
from soma.tools import servers
from soma.tools.servers import Server
from soma.tools.registry import BUILTIN_SERVER

CHANNEL = "soma_tool_servers"  # NOTIFY on every change of tool_servers
_t = tables.tool_servers
_c = tables.tool_catalogue


async def load(conn: AsyncConnection, settings: config.Settings) -> tuple[list[Server], dict[str, str]]:
    """Every configured server by name; and, apart, the error of each stored entry this Soma no longer accepts."""
    found: list[Server] = []
    broken: dict[str, str] = {}
    for row in await conn.execute(sa.select(_t).order_by(_t.c.name)):
        try:
            found.append(_stored(row, settings))
        except errors.InvalidToolServer as exc:
            broken[row.name] = exc.detail or exc.message
    return found, broken


async def put(conn: AsyncConnection, actor: admin.Actor, server: Server) -> Server:
    """Add or change one server; returns it with its new version."""
    stored = await upsert(conn, server)
    await actor.record(conn, "tools.server.updated", server.name, {"transport": server.transport, "disabled": server.disabled})
    await announce(conn)
    return stored


async def remove(conn: AsyncConnection, actor: admin.Actor, name: str) -> None:
    """Remove one server and what was found about it; its tools' choices stay, should it come back."""
    gone = await conn.execute(sa.delete(_t).where(_t.c.name == name))
    if gone.rowcount == 0:
        raise errors.ToolServerNotFound(f"No tool server is named {name!r}.")
    await conn.execute(sa.delete(_c).where(_c.c.server == name))
    await actor.record(conn, "tools.server.removed", name)
    await announce(conn)


async def replace(conn: AsyncConnection, actor: admin.Actor, wanted: list[Server]) -> list[Server]:
    """Make the configured servers exactly these (the caller validated them all first); returns them stored."""
    names = [server.name for server in wanted]
    before = set((await conn.execute(sa.select(_t.c.name).with_for_update())).scalars())
    await conn.execute(sa.delete(_t).where(_t.c.name.not_in(names)))
    await conn.execute(sa.delete(_c).where(_c.c.server.not_in([*names, BUILTIN_SERVER])))  # the built-ins' row: sandbox_status
    stored = [await upsert(conn, server) for server in wanted]
    details = {"servers": sorted(names), "removed": sorted(before - set(names))}
    await actor.record(conn, "tools.servers.replaced", "tool servers", details)
    await announce(conn)
    return stored


async def upsert(conn: AsyncConnection, server: Server) -> Server:
    """Write one server's row (no audit, no NOTIFY: the caller's)."""
    values = {
        "name": server.name, "config": server.entry, "disabled": server.disabled, "init_timeout": server.init_timeout,
        "call_timeout": server.call_timeout, "output_cap": server.output_cap, "updated_at": sa.func.clock_timestamp(),
    }  # fmt: skip
    statement = postgresql.insert(_t).values(values)
    changed = {key: statement.excluded[key] for key in values if key != "name"}
    row = (await conn.execute(statement.on_conflict_do_update(index_elements=[_t.c.name], set_=changed).returning(_t))).one()
    if server.disabled:
        await _mark_disabled(conn, server.name)
    return _with_version(server, row)


async def _mark_disabled(conn: AsyncConnection, name: str) -> None:
    statement = postgresql.insert(_c).values(server=name, state="disabled", error=None)
    await conn.execute(
        statement.on_conflict_do_update(index_elements=[_c.c.server], set_={"state": "disabled", "error": None, "checked_at": sa.func.now()})
    )


def _stored(row: Any, settings: config.Settings) -> Server:
    return _with_version(servers.parse(row.name, row.config, settings), row)


def _with_version(server: Server, row: Any) -> Server:
    return dataclasses.replace(server, version=row.updated_at.isoformat())


async def announce(conn: AsyncConnection) -> None:
    """Tell every worker's pool to read tool_servers again, at commit."""
    await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))  # sent at commit
