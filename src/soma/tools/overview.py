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
    """{"servers": [{name, transport, state, error}], "tools": [{name, server, description, input_schema, enabled, approval, available, reason}]}.

    `available`: whether a turn could run the tool now (its server connected; for run_code, code
    execution on and the sandbox working), and `reason` why not.
    """
    configured, broken = await store.load(conn, settings)
    found = await catalogue.read(conn)
    chosen = await choices.read(conn)
    shown_servers = [server_state(server.name, server.transport, server.disabled, found.get(server.name)) for server in configured]
    shown_servers += [{"name": name, "transport": None, "state": "failed", "error": error} for name, error in broken.items()]
    shown_servers.sort(key=lambda server: server["name"])
    blocked = await sandbox_status.code_blocked(conn, (await agent_settings.load(conn)).code_execution)
    tools = [
        _tool(spec.server, spec.name, spec.description, spec.input_schema, chosen, blocked if spec == builtins.RUN_CODE else None)
        for spec in builtins.SPECS
    ]
    states = {shown["name"]: shown for shown in shown_servers}
    for server in configured:
        row = found.get(server.name)
        down = _why_down(states[server.name])
        for listed in row.tools if row is not None else []:
            tools.append(_tool(server.name, listed["name"], listed.get("description", ""), listed.get("input_schema", {}), chosen, down))
    return {"servers": shown_servers, "tools": tools}


def server_state(name: str, transport: str, disabled: bool, row: Any) -> dict[str, Any]:
    """One server as listed: disabled wins over whatever was found before; no row yet is a failure said so."""
    if disabled:
        return {"name": name, "transport": transport, "state": "disabled", "error": None}
    if row is None or row.state == "disabled":
        return {"name": name, "transport": transport, "state": "failed", "error": NOT_YET}
    return {"name": name, "transport": transport, "state": row.state, "error": row.error}


def _why_down(shown: dict[str, Any]) -> str | None:
    """Why a listed server's tools cannot run now, or None when it is connected."""
    if shown["state"] == "connected":
        return None
    return "the server is disabled" if shown["state"] == "disabled" else f"the server failed: {shown['error']}"


def _tool(
    server: str, name: str, description: str, schema: dict[str, Any], chosen: dict[tuple[str, str], choices.Choice], down: str | None
) -> dict[str, Any]:
    choice = chosen.get((server, name), choices.DEFAULT)
    return {
        "name": name, "server": server, "description": description, "input_schema": schema,
        "enabled": choice.enabled, "approval": choice.approval, "available": down is None, "reason": down,
    }  # fmt: skip
