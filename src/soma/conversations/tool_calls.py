"""Running a turn's tool calls: several at once, each recorded durably as it starts and ends, resumable after a crash.

Every record (`tool.approval`, `tool.started`, `tool.finished`; steps.py) is on disk before the turn
acts on it: the calls of a step are recorded before any runs, and a result before the SLM reads it.
A worker that dies mid-turn leaves records from which another resumes (`resume`): a finished call
is never run again; one that was running is run again only when its tool is repeatable, otherwise
its result says it was interrupted; one waiting for approval waits again, or takes the answer given
meanwhile. A tool's failure, an exception included, is a result the SLM reads, never a failed turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from soma.conversations import approvals, events, steps
from soma.conversations.writer import EventWriter
from soma.slm import client as slm
from soma.tools.registry import CallContext, ToolResult, Toolset

log = logging.getLogger(__name__)

CALLS_AT_ONCE = 4  # calls of one step that run at the same time; the others wait for a free place

INTERRUPTED = ToolResult(
    False, "The worker running this call stopped before it finished; it may or may not have taken effect, and was not run again.",
    "interrupted",
)  # fmt: skip
STOPPED = ToolResult(False, "The user stopped the turn before this call finished.", "stopped")
_REFUSED = {
    "denied": ToolResult(False, "The user denied this call; it did not run.", "denied"),
    "timed_out": ToolResult(False, "No one allowed this call in time; it did not run.", "timeout"),
}


@dataclass(frozen=True)
class Turn:
    """Which answer the calls belong to."""

    session_id: uuid.UUID
    reply_to: int
    generation: int


class Runner:
    """One turn's calls: those recorded by earlier runs of the turn, and those it runs now."""

    def __init__(
        self, engine: AsyncEngine, writer: EventWriter, toolset: Toolset, turn: Turn, approval_timeout: int, recorded: list[steps.Call]
    ) -> None:
        self.toolset = toolset
        self.calls = list(recorded)
        self._engine = engine
        self._writer = writer
        self._turn = turn
        self._approval_timeout = approval_timeout

    @property
    def last_step(self) -> int:
        """The last step with recorded calls (0: none)."""
        return max((c.step for c in self.calls), default=0)

    async def resume(self) -> None:
        """Finish the recorded calls that had not finished when an earlier run of the turn ended."""
        await self._run_all([c for c in self.calls if c.result is None], resumed=True)

    async def run_step(self, step: int, requested: list[slm.ToolCall], text: str) -> None:
        """Record the calls the SLM asked for in `step`, then run them; returns once every one has its result recorded."""
        calls = [self._call(step, index, asked, text if index == 0 else "") for index, asked in enumerate(requested)]
        self.calls += calls
        await self._writer.commit([self._opening(call) for call in calls])
        for call in calls:
            if self._asks(call):
                call.asked = True
            else:
                call.started = True
        await self._run_all(calls, resumed=False)

    async def stop(self) -> None:
        """Record the calls that were running or waiting when the turn was stopped as stopped."""
        left = [c for c in self.calls if c.result is None]
        for call in left:
            call.result = STOPPED
        if left:
            await self._writer.commit([steps.finished(c, self._turn.reply_to, self._turn.generation) for c in left])

    def _call(self, step: int, index: int, asked: slm.ToolCall, text: str) -> steps.Call:
        call_id = steps.call_id(self._turn.reply_to, self._turn.generation, step, index)
        arguments = _parsed(asked.arguments)
        offered = self.toolset.get(asked.name)
        if offered is None or isinstance(arguments, str):  # nothing will run: answering it again is harmless
            server = offered.tool.spec.server if offered else None
            name = offered.tool.spec.name if offered else asked.name
            return steps.Call(call_id, step, index, name, server, arguments, True, text)
        spec = offered.tool.spec
        return steps.Call(call_id, step, index, spec.name, spec.server, arguments, spec.repeatable, text)

    def _asks(self, call: steps.Call) -> bool:
        offered = self.toolset.get(call.function) if call.server is not None else None
        return offered is not None and offered.approval == "ask" and not isinstance(call.arguments, str)

    def _opening(self, call: steps.Call) -> tuple[str, dict]:
        timeout = self._approval_timeout if self._asks(call) else None
        return steps.opening(call, self._turn.reply_to, self._turn.generation, timeout)

    async def _run_all(self, calls: list[steps.Call], resumed: bool) -> None:
        places = asyncio.Semaphore(CALLS_AT_ONCE)
        async with asyncio.TaskGroup() as group:  # a stop cancels the group, and so every call in flight
            for call in calls:
                group.create_task(self._run_one(call, places, resumed))

    async def _run_one(self, call: steps.Call, places: asyncio.Semaphore, resumed: bool) -> None:
        if call.asked and not call.started:
            decision = await approvals.wait(self._engine, self._turn.session_id, call.call_id, self._approval_timeout)
            if not decision.allow:
                await self._finish(call, _REFUSED[decision.outcome], None)
                return
            call.started = True
            await self._writer.commit([steps.opening(call, self._turn.reply_to, self._turn.generation)])
        elif resumed and not call.repeatable:  # it was running when the worker died: it may have taken effect
            await self._finish(call, INTERRUPTED, None)
            return
        async with places:
            began = time.monotonic()
            result = await self._execute(call)
            took = round((time.monotonic() - began) * 1000, 1)
        await self._finish(call, result, took)

    async def _execute(self, call: steps.Call) -> ToolResult:
        if isinstance(call.arguments, str):
            return ToolResult(False, f"The arguments {call.arguments!r} are not a JSON object. Send the arguments as a JSON object.", "invalid_arguments")
        offered = self.toolset.get(call.function) if call.server is not None else None
        if offered is None:
            if (refused := self.toolset.refusal(call.function)) is not None:
                return refused
            names = ", ".join(self.toolset.names()) or "none"
            return ToolResult(False, f"There is no tool named {call.function!r} now; the tools are: {names}.", "unknown_tool")
        try:
            return await offered.tool.run(call.arguments, self._context(call))
        except Exception as exc:  # a tool's bug or a lost connection: a result the SLM reads, never a failed turn
            log.warning("tool %s failed: %s: %s", call.function, type(exc).__name__, exc)
            return ToolResult(False, f"The tool failed: {type(exc).__name__}: {exc}", "failed")

    def _context(self, call: steps.Call) -> CallContext:
        def output(stream: str, text: str) -> None:
            self._writer.event(events.TOOL_OUTPUT, {"call_id": call.call_id, "stream": stream, "text": text, "reply_to": self._turn.reply_to})

        return CallContext(self._turn.session_id, call.call_id, output, self._writer.event)

    async def _finish(self, call: steps.Call, result: ToolResult, duration_ms: float | None) -> None:
        call.result, call.duration_ms = result, duration_ms
        await self._writer.commit([steps.finished(call, self._turn.reply_to, self._turn.generation)])


def _parsed(arguments: str) -> dict | str:
    """The arguments object the SLM wrote, or its text when it is not one."""
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    return value if isinstance(value, dict) else arguments
