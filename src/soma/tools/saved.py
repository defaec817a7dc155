"""The tool configuration a backup holds: each server's entry (references, never secret values) and each tool's choice.

It travels in the backup's settings.json as `"tools": {"servers": [{name, config}], "settings": [{server, tool,
enabled, approval}]}`, and a restore in `overwrite` mode puts it back as it was. What connecting found
(tool_catalogue) and users' approvals (tool_approvals) are not configuration and stay out.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables
from soma.tools import choices, servers, store

_t, _s, _c = tables.tool_servers, tables.tool_settings, tables.tool_catalogue


async def read(conn: AsyncConnection) -> dict[str, Any]:
    """The configuration as a backup keeps it, in name order."""
    rows = await conn.execute(sa.select(_t.c.name, _t.c.config).order_by(_t.c.name))
    chosen = await conn.execute(sa.select(_s.c.server, _s.c.tool, _s.c.enabled, _s.c.approval).order_by(_s.c.server, _s.c.tool))
    return {
        "servers": [{"name": row.name, "config": row.config} for row in rows],
        "settings": [dict(row._mapping) for row in chosen],
    }


def fits(value: Any) -> bool:
    """Whether a backup's `tools` has the shape read() writes (the servers' entries are checked by `check`)."""
    if not isinstance(value, dict) or set(value) != {"servers", "settings"}:
        return False
    servers_ok = isinstance(value["servers"], list) and all(
        isinstance(s, dict) and set(s) == {"name", "config"} and isinstance(s["name"], str) and isinstance(s["config"], dict)
        for s in value["servers"]
    )
    settings_ok = isinstance(value["settings"], list) and all(
        isinstance(c, dict) and set(c) == {"server", "tool", "enabled", "approval"} and isinstance(c["server"], str)
        and isinstance(c["tool"], str) and isinstance(c["enabled"], bool) and c["approval"] in choices.APPROVALS
        for c in value["settings"]
    )  # fmt: skip
    return servers_ok and settings_ok


def check(value: dict[str, Any]) -> list[servers.Server]:
    """The servers a backup's configuration names, each accepted as an admin's PUT would be; InvalidToolServer otherwise."""
    names = [entry["name"] for entry in value["servers"]]
    if len(set(names)) != len(names):
        raise errors.InvalidToolServer(f"The servers {names} repeat a name.")
    return servers.parse_all({entry["name"]: entry["config"] for entry in value["servers"]}, None)


async def restore(conn: AsyncConnection, value: dict[str, Any]) -> None:
    """Make the configuration the backup's (in the restore's transaction; its audit entry covers this)."""
    wanted = check(value)
    await conn.execute(sa.delete(_t))
    await conn.execute(sa.delete(_c))
    await conn.execute(sa.delete(_s))
    for server in wanted:
        await store.upsert(conn, server)
    if value["settings"]:
        await conn.execute(sa.insert(_s), value["settings"])
    await store.announce(conn)


def differs(current: dict[str, Any], backup: dict[str, Any]) -> bool:
    """Whether restoring the backup's servers would change the configured ones."""
    return current["servers"] != backup["servers"]
