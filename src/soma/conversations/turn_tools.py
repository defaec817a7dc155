"""What one turn offers: the built-in tools its settings allow and the MCP tools working now, less those an admin disabled.

An admin's choice per tool is a `tool_settings` row (server, tool, enabled, approval), read in the
turn's start statement (question.py); a tool without a row is enabled and runs without asking.
Built-ins are offered where they can help: `remember` and `forget` while memory is on,
`search_memory` once a memory exists, `search_knowledge` once a knowledge file is ready,
`run_code` while code_execution is on and the worker's sandbox service works, `delegate` while a
profile exists and the chat is less deep than delegation_max_depth (at the limit, a call of it
anyway is answered with the limit: tools.delegate.too_deep). A chat's profile that names its tools
narrows them to those (soma.profiles.refinement).
"""

from __future__ import annotations

import logging
from typing import Protocol

from soma.conversations.question import Question
from soma.profiles import refinement
from soma.tools import builtins, choices, delegate
from soma.tools.registry import Tool, Toolset

log = logging.getLogger(__name__)


class ToolSource(Protocol):
    """The worker process's MCP connections (its procrastinate context's "tools"): the tools of the servers connected now.

    Each tool's `run` applies its server's call timeout and output cap itself and never raises.
    """

    def tools(self) -> list[Tool]: ...


def offer(asked: Question, built_in: dict[str, Tool], source: ToolSource | None, code_runs: bool = False) -> Toolset:
    """The turn's Toolset: nothing when tools are off; else each tool its admin left enabled (and the chat's profile names), with its approval mode.

    `code_runs`: the worker's sandbox service works now, so run_code is offered unless code_execution is off.
    """
    agent = asked.agent
    if not agent.tools_enabled or agent.tool_call_format == "off":
        return Toolset([])
    too_deep = asked.depth + 1 > agent.delegation_max_depth
    wanted = [
        (builtins.REMEMBER, agent.memory_enabled),
        (builtins.FORGET, agent.memory_enabled),
        (builtins.SEARCH_MEMORY, agent.memory_enabled and asked.memories_stored),
        (builtins.SEARCH_KNOWLEDGE, asked.documents_ready),
        (builtins.RUN_CODE, code_runs and agent.code_execution == "on"),
        (builtins.DELEGATE, bool(asked.profiles) and not too_deep),
    ]
    candidates = [built_in[spec.name] for spec, useful in wanted if useful]
    candidates += _connected(source)
    chosen = {(row["server"], row["tool"]): choices.Choice(row["enabled"], row["approval"]) for row in asked.tool_choices}
    refusals = {builtins.DELEGATE.function_name: delegate.too_deep(asked.depth, agent.delegation_max_depth)} if too_deep else {}
    return Toolset(refinement.tools(choices.offered(candidates, chosen), asked.profile), refusals)


def _connected(source: ToolSource | None) -> list[Tool]:
    """The MCP tools working now; none when the source fails (the turn goes on with the built-ins)."""
    if source is None:
        return []
    try:
        return list(source.tools())
    except Exception as exc:
        log.warning("could not list the MCP tools (%s: %s); this turn offers the built-in tools only", type(exc).__name__, exc)
        return []
