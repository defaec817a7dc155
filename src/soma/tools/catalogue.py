"""What connecting to each tool server found (table tool_catalogue): written by whichever process connected.

Workers write when a connection's state or tools change; the gateway and the CLI write the result of
a probe (connect, list, close) right after an admin changes a server, so the answer shows at once
whether it works. A write carries the configuration's version and is dropped when the server was
changed or removed since: a worker still holding the old configuration cannot overwrite the new one's state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import config
from soma.db import tables
from soma.tools.references import Resolver, Unresolved
from soma.tools.servers import Server


log = logging.getLogger(__name__)

PROBES_AT_ONCE = 8  # servers probed together after a replace: each may start a process

_c = tables.tool_catalogue


@dataclass(frozen=True)
class Found:
    """One probe's outcome."""

    state: str  # connected or failed
    error: str | None
    tools: list[dict[str, Any]] | None  # None: keep the last known list


async def record(conn: AsyncConnection, server: Server, found: Found) -> bool:
    """Store what a connection found, unless the server changed since `server.version`; whether it was stored."""
    statement = sa.text(
        """
        INSERT INTO tool_catalogue (server, state, error, tools, checked_at)
        SELECT :name, :state, :error, COALESCE(CAST(:tools AS jsonb), '[]'::jsonb), now()
          FROM tool_servers WHERE name = :name AND updated_at = CAST(:version AS timestamptz) AND NOT disabled
        ON CONFLICT (server) DO UPDATE SET state = excluded.state, error = excluded.error, checked_at = excluded.checked_at,
               tools = CASE WHEN CAST(:tools AS jsonb) IS NULL THEN tool_catalogue.tools ELSE excluded.tools END
        """
    )
    values = {"name": server.name, "state": found.state, "error": found.error, "version": server.version, "tools": _json(found.tools)}
    return (await conn.execute(statement, values)).rowcount > 0


def _json(tools: list[dict[str, Any]] | None) -> str | None:
    return None if tools is None else json.dumps(tools)


async def probe(server: Server, settings: config.Settings) -> Found:
    """Connect, list the tools, close: within the server's init_timeout (and its secrets' reading)."""
    from soma.tools import session as sessions  # the MCP SDK: 0.5 s of CPU to import, paid by the first connection only

    resolver = Resolver(settings)
    try:
        resolved = await asyncio.to_thread(resolver.resolve, dict(server.env or {}), dict(server.headers or {}))
    except Unresolved as exc:
        return Found("failed", f"cannot read its secret: {exc}", None)
    link = sessions.Link()
    try:
        async with sessions.open(server, resolved, link) as opened:
            tools = opened.tools
    except (Exception, BaseExceptionGroup) as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return Found("failed", resolved.redact(sessions.describe(exc, link, server)), None)
    return Found("connected", None, tools)


async def probe_and_record(engine: AsyncEngine, servers: list[Server], settings: config.Settings) -> None:
    """Probe every enabled server (PROBES_AT_ONCE at a time) and store each outcome."""
    gate = asyncio.Semaphore(PROBES_AT_ONCE)

    async def one(server: Server) -> None:
        async with gate:
            found = await probe(server, settings)
        if found.state == "failed":
            log.warning("tool server %r: probe failed: %s", server.name, found.error)
        async with engine.begin() as conn:
            await record(conn, server, found)

    await asyncio.gather(*(one(server) for server in servers if not server.disabled))


async def read(conn: AsyncConnection) -> dict[str, Any]:
    """Every catalogue row by server name."""
    rows = await conn.execute(sa.select(_c.c.server, _c.c.state, _c.c.error, _c.c.tools, _c.c.checked_at))
    return {row.server: row for row in rows}
