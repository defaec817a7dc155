"""Tools a test hands to a turn where the worker's MCP connections would: they count their runs, wait, and fail on cue.

They stand at the boundary the MCP servers stand at (turn_tools.ToolSource), so the loop, its
records and its approvals run as they do for any tool; the MCP connections themselves are tested
with real servers in tests/tools.
"""

from __future__ import annotations

import asyncio
from typing import Any

from soma.tools.registry import CallContext, Tool, ToolResult, ToolSpec

ARGUMENTS = {"type": "object", "properties": {"n": {"type": "integer"}}}


class Probe:
    """A tool on server `server` whose runs a test can see, hold (`hold`) and make fail (`fails`)."""

    def __init__(self, name: str, server: str = "probe", *, repeatable: bool = False, hold: bool = False, fails: str | None = None) -> None:
        self.spec = ToolSpec(server, name, f"The {name} probe.", ARGUMENTS, repeatable)
        self.runs: list[dict[str, Any]] = []  # the arguments of each run, in the order they began
        self.in_flight = 0
        self.most_in_flight = 0
        self.cancelled = 0
        self.release = asyncio.Event()  # lets held runs go on
        if not hold:
            self.release.set()
        self._fails = fails

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        self.runs.append(arguments)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if self._fails is not None:
            raise RuntimeError(self._fails)
        return ToolResult(True, f"{self.spec.name} did {arguments['n']}" if "n" in arguments else f"{self.spec.name} did it")


class Source:
    """The tools of the "servers connected now", as the worker's context's "tools" object gives them."""

    def __init__(self, *tools: Tool) -> None:
        self._tools = list(tools)

    def tools(self) -> list[Tool]:
        return list(self._tools)
