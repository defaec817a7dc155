"""One registry for every tool a turn can offer: the built-ins and each MCP server's look alike to
the loop, the settings and the UI.

A `Tool` is its `ToolSpec` (what the SLM, the API and the UI are told) and a way to run it. A
`Toolset` is what one turn offers: the enabled tools, each with its approval mode, under the
function names the SLM calls them by.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

BUILTIN_SERVER = "soma"  # the `server` of the built-in tools in GET /v1/tools and the events
Approval = Literal["auto", "ask"]

# OpenAI function names: letters, digits, _ and -, at most 64.
_FUNCTION_NAME_LIMIT = 64
_NOT_IN_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as its server describes it."""

    server: str  # BUILTIN_SERVER, or the MCP server's configured name
    name: str  # the tool's own name on its server
    description: str
    input_schema: dict[str, Any]  # JSON Schema of the arguments object
    # Safe to run again when the worker died while it ran: it only reads, or running it twice
    # changes nothing more than once (MCP annotations readOnlyHint / idempotentHint).
    repeatable: bool = False

    @property
    def function_name(self) -> str:
        """The name the SLM calls it by: the tool's own for a built-in, `server__tool` for an MCP tool."""
        raw = self.name if self.server == BUILTIN_SERVER else f"{self.server}__{self.name}"
        return _NOT_IN_FUNCTION_NAME.sub("_", raw)[:_FUNCTION_NAME_LIMIT]

    def definition(self) -> dict[str, Any]:
        """The OpenAI `tools` entry."""
        schema = self.input_schema or {"type": "object", "properties": {}}
        return {"type": "function", "function": {"name": self.function_name, "description": self.description, "parameters": schema}}


@dataclass(frozen=True)
class ToolResult:
    """What a call produced: the text the SLM reads, and whether the tool reported success."""

    ok: bool
    text: str
    error: str | None = None  # a short reason when not ok (e.g. "timeout", "interrupted", "denied")
    # What Soma keeps about the call beside the text, e.g. {"remembered": 7}: recorded in `tool.finished`
    # (so a resumed turn still knows it), never sent to the SLM.
    details: dict[str, Any] | None = None


def _no_event(type_: str, data: dict[str, Any]) -> None:
    """Where a call's events go when nothing records them."""


@dataclass(frozen=True)
class CallContext:
    """Where a call runs: its chat, its id, and ways to stream what it prints and what it does while it runs."""

    session_id: uuid.UUID
    call_id: str
    # (stream "stdout" | "stderr", text): queued as a `tool.output` event, written in order with the
    # turn's other events but not waited for (the call's result, in tool.finished, is what is durable).
    output: Callable[[str, str], None]
    # (type, data): any other event of the call in its chat's stream (delegate.started, …), queued the same way.
    event: Callable[[str, dict[str, Any]], None] = _no_event


class Tool(Protocol):
    """A tool a turn can run. A tool's own failure is a ToolResult with ok False, never an exception."""

    @property
    def spec(self) -> ToolSpec: ...

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult: ...


@dataclass(frozen=True)
class Offered:
    """One tool as a turn offers it."""

    tool: Tool
    approval: Approval = "auto"


class Toolset:
    """The tools one turn offers, by the function name the SLM calls.

    `refusals` answer a call of a tool the turn does not offer for a reason the SLM should read
    (delegate at the depth limit), instead of "there is no tool named …".
    """

    def __init__(self, offered: Iterable[Offered], refusals: dict[str, ToolResult] | None = None) -> None:
        self._by_function: dict[str, Offered] = {}
        for item in offered:
            self._by_function.setdefault(item.tool.spec.function_name, item)  # the first of two that clash
        self._refusals = {name: result for name, result in (refusals or {}).items() if name not in self._by_function}

    def __bool__(self) -> bool:
        return bool(self._by_function)

    def definitions(self) -> list[dict[str, Any]]:
        """The OpenAI `tools` list."""
        return [item.tool.spec.definition() for item in self._by_function.values()]

    def get(self, function_name: str) -> Offered | None:
        return self._by_function.get(function_name)

    def names(self) -> list[str]:
        return list(self._by_function)

    def refusal(self, function_name: str) -> ToolResult | None:
        """What a call of a tool withheld for a reason gets; None for a name no tool has."""
        return self._refusals.get(function_name)
