"""The `delegate` tool: hand a task to a subordinate agent with another profile, and read back its final answer.

This module is the tool as the SLM sees it: its description (which lists the profiles), the
checks of what it asked (a known profile, a task, the depth limit) and the result it reads. The
subordinate's chat and turn are the turn's business (soma.conversations.subordinates), handed in
as `Subordinates`, so the tools package never imports the conversations one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, Protocol

from soma.tools import builtins
from soma.tools.registry import CallContext, ToolResult, ToolSpec

SETTING = "delegation_max_depth"  # the agent setting that bounds how deep delegation goes


@dataclass(frozen=True)
class Outcome:
    """How a subordinate's turn ended: its chat, its final answer (partial when stopped; None when it failed), and whether it answered."""

    session_id: uuid.UUID
    answer: str | None
    ok: bool


class Subordinates(Protocol):
    """Runs a subordinate turn for a call (conversations.subordinates.Subordinates)."""

    async def run(self, profile: str, task: str, context: CallContext) -> Outcome | ToolResult:
        """The subordinate's outcome, or a ToolResult when it could not start (no steps left)."""
        ...


def too_deep(depth: int, max_depth: int) -> ToolResult:
    """What a call of `delegate` gets in a chat at `depth` when the limit forbids one more level."""
    return ToolResult(
        False,
        f"Delegation is limited to {max_depth} level(s) below the user's chat (the {SETTING} setting), and this chat is "
        f"{depth} level(s) down, so it cannot delegate. Do the task yourself.",
        "depth_limit",
    )


class Delegate:
    """`delegate` {"profile", "task"}: a subordinate turn in a child chat; its final answer is the result."""

    def __init__(self, profiles: list[dict[str, Any]], depth: int, max_depth: int, subordinates: Subordinates) -> None:
        self._profiles = profiles  # {name, description}, by name
        self._depth = depth
        self._max_depth = max_depth
        self._subordinates = subordinates

    @property
    def spec(self) -> ToolSpec:
        if not self._profiles:
            return builtins.DELEGATE
        listed = "\n".join(f"- {p['name']}: {p['description']}" if p["description"] else f"- {p['name']}" for p in self._profiles)
        return replace(builtins.DELEGATE, description=f"{builtins.DELEGATE.description}\nThe profiles:\n{listed}")

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        profile, task = arguments.get("profile"), arguments.get("task")
        if not isinstance(profile, str) or not isinstance(task, str) or not task.strip():
            return ToolResult(False, 'delegate needs {"profile": "a profile name", "task": "what to do"}; nothing was delegated.', "invalid_arguments")
        names = [p["name"] for p in self._profiles]
        if profile not in names:
            known = ", ".join(names) or "none"
            return ToolResult(False, f"There is no agent profile named {profile!r}; the profiles are: {known}.", "unknown_profile")
        if self._depth + 1 > self._max_depth:
            return too_deep(self._depth, self._max_depth)
        if context is None:
            return ToolResult(False, "delegate runs only inside a turn.", "no_turn")
        outcome = await self._subordinates.run(profile, task, context)
        if isinstance(outcome, ToolResult):
            return outcome
        details = {"session_id": str(outcome.session_id), "profile": profile, "ok": outcome.ok}
        if outcome.answer is None:
            text = f"The subordinate agent's turn failed before it answered; its chat {outcome.session_id} shows why."
            return ToolResult(False, text, "failed", details)
        return ToolResult(outcome.ok, outcome.answer, None if outcome.ok else "stopped", details)
