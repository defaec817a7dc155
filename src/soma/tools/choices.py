"""An admin's choice per tool (table tool_settings): enabled or not, `auto` or `ask`; a tool without a row is enabled and `auto`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.auth import admin
from soma.db import tables
from soma.tools import builtins
from soma.tools.registry import BUILTIN_SERVER, Approval, Offered, Tool

_s = tables.tool_settings
APPROVALS = ("auto", "ask")
# A tool its configured server listed when last connected.
_LISTED = sa.text(
    """
    SELECT EXISTS (SELECT 1 FROM tool_catalogue c JOIN tool_servers s ON s.name = c.server
                   CROSS JOIN LATERAL jsonb_array_elements(c.tools) AS listed
                    WHERE c.server = :server AND listed->>'name' = :tool)
    """
)


@dataclass(frozen=True)
class Choice:
    """One tool's setting."""

    enabled: bool = True
    approval: Approval = "auto"


DEFAULT = Choice()


async def read(conn: AsyncConnection) -> dict[tuple[str, str], Choice]:
    """Every stored choice by (server, tool)."""
    rows = await conn.execute(sa.select(_s.c.server, _s.c.tool, _s.c.enabled, _s.c.approval))
    return {(row.server, row.tool): Choice(row.enabled, row.approval) for row in rows}


def offered(tools: Iterable[Tool], chosen: dict[tuple[str, str], Choice]) -> list[Offered]:
    """The tools a turn may offer: the enabled ones, each with its approval mode."""
    found = []
    for tool in tools:
        choice = chosen.get((tool.spec.server, tool.spec.name), DEFAULT)
        if choice.enabled:
            found.append(Offered(tool, choice.approval))
    return found


def check(changes: Any) -> dict[str, Any]:
    """The body of PATCH /v1/tools/{server}/{tool}: `enabled` and/or `approval`; InvalidToolChoice otherwise."""
    if not isinstance(changes, dict) or not changes or set(changes) - {"enabled", "approval"}:
        raise errors.InvalidToolChoice(f"Got {changes!r}.")
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise errors.InvalidToolChoice(f"'enabled' is {changes['enabled']!r}.")
    if "approval" in changes and changes["approval"] not in APPROVALS:
        raise errors.InvalidToolChoice(f"'approval' is {changes['approval']!r}.")
    return changes


async def choose(conn: AsyncConnection, actor: admin.Actor, server: str, tool: str, changes: dict[str, Any]) -> Choice:
    """Change one tool's choice (a built-in, or a tool its server listed); ToolNotFound for any other."""
    await _known(conn, server, tool)
    statement = postgresql.insert(_s).values(server=server, tool=tool, **changes)
    row = (
        await conn.execute(statement.on_conflict_do_update(index_elements=[_s.c.server, _s.c.tool], set_=changes).returning(_s))
    ).one()
    await actor.record(conn, "tools.tool.updated", f"{server}/{tool}", changes)
    return Choice(row.enabled, row.approval)


async def _known(conn: AsyncConnection, server: str, tool: str) -> None:
    if server == BUILTIN_SERVER:
        if tool in {spec.name for spec in builtins.SPECS}:
            return
    elif (await conn.execute(_LISTED, {"server": server, "tool": tool})).scalar_one():
        return
    raise errors.ToolNotFound(f"The server {server!r} has no tool {tool!r}.")
