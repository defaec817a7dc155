"""What `GET /v1/tools` and `soma tools list` show: each server's state and every tool with its choice.

No server's configuration is in it (commands, URLs, references): members read this; the export is admins'.
A server no process has connected to yet shows `failed` with that said; a failed server's tools are
its last known ones, so their choices can still be made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma import config
from soma.settings import store as agent_settings
from soma.tools import builtins, catalogue, choices, sandbox_status, store

NOT_YET = "no process has connected to it yet"


async def describe(conn: AsyncConnection, settings: config.Settings) -> dict[str, Any]:
    """{"servers": [{name, transport, state, error}], "tools": [{name, server, description, input_schema, enabled, approval}]}.

    run_code also says whether it can run now (`available`) and, when not, why (`reason`).
    """
    configured, broken = await store.load(conn, settings)
    found = await catalogue.read(conn)
    chosen = await choices.read(conn)
    shown_servers = [server_state(server.name, server.transport, server.disabled, found.get(server.name)) for server in configured]
    shown_servers += [{"name": name, "transport": None, "state": "failed", "error": error} for name, error in broken.items()]
    shown_servers.sort(key=lambda server: server["name"])
    tools = [_tool(spec.server, spec.name, spec.description, spec.input_schema, chosen) for spec in builtins.SPECS]
    blocked = await sandbox_status.code_blocked(conn, (await agent_settings.load(conn)).code_execution)
    for tool in tools:
        if tool["name"] == builtins.RUN_CODE.name:
            tool |= {"available": blocked is None, "reason": blocked}
    for server in configured:
        row = found.get(server.name)
        for listed in row.tools if row is not None else []:
            tools.append(_tool(server.name, listed["name"], listed.get("description", ""), listed.get("input_schema", {}), chosen))
    return {"servers": shown_servers, "tools": tools}


def server_state(name: str, transport: str, disabled: bool, row: Any) -> dict[str, Any]:
    """One server as listed: disabled wins over whatever was found before; no row yet is a failure said so."""
    if disabled:
        return {"name": name, "transport": transport, "state": "disabled", "error": None}
    if row is None or row.state == "disabled":
        return {"name": name, "transport": transport, "state": "failed", "error": NOT_YET}
    return {"name": name, "transport": transport, "state": row.state, "error": row.error}


def _tool(server: str, name: str, description: str, schema: dict[str, Any], chosen: dict[tuple[str, str], choices.Choice]) -> dict[str, Any]:
    choice = chosen.get((server, name), choices.DEFAULT)
    return {
        "name": name, "server": server, "description": description, "input_schema": schema,
        "enabled": choice.enabled, "approval": choice.approval,
    }  # fmt: skip
