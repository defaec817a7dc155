"""A turn's tool calls as the event log records them: their ids, their events' data, and the SLM messages they make.

Every call has an id of Soma's own, `m<message>g<generation>s<step>c<index>`: the same in every run
of the turn, unique in the chat (SLMs number their calls "call_0" in every answer). A call's events:

    tool.approval  it waits for the user (tools set to `ask`), before tool.started
    tool.started   it runs
    tool.finished  it ended: {ok, result, error, duration_ms}; a call denied, timed out or stopped
                   while it waited has no tool.started

Each carries {call_id, name, server, reply_to, generation, step, index}; the first two also
`arguments`, `repeatable` and, on a step's first call, `text` (what the SLM wrote beside its calls).
The SLM's requests after a step are built from these records alone (`messages`), so a turn resumed
by another worker sends what an unbroken one would have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from soma.conversations import events
from soma.tools.registry import ToolResult, ToolSpec

Format = Literal["native", "json"]  # how the SLM asks for tools, hence how its steps are written back to it


@dataclass
class Call:
    """One tool call of a turn, as far as it got."""

    call_id: str
    step: int  # the SLM request (1, 2, …) that asked for it
    index: int  # its place among that request's calls
    name: str  # the tool's own name; for a call of no known tool, the function name the SLM used
    server: str | None  # None when no tool has that function name
    arguments: dict[str, Any] | str  # the parsed object, or the SLM's text when it was not a JSON object
    repeatable: bool  # safe to run again when a worker died while it ran
    text: str = ""  # what the SLM wrote beside its calls (index 0 only)
    asked: bool = False  # tool.approval is recorded
    started: bool = False  # tool.started is recorded
    result: ToolResult | None = None  # tool.finished is recorded
    duration_ms: float | None = None

    @property
    def function(self) -> str:
        """The name the SLM called it by."""
        if self.server is None:
            return self.name
        return ToolSpec(self.server, self.name, "", {}).function_name

    def arguments_text(self) -> str:
        """The arguments as JSON text, as the SLM's request messages carry them.

        Keys sorted: the record (jsonb) does not keep the order the SLM wrote them in, and a resumed
        turn must send what an unbroken one sent.
        """
        return self.arguments if isinstance(self.arguments, str) else json.dumps(_sorted(self.arguments), ensure_ascii=False)


def call_id(message_id: int, generation: int, step: int, index: int) -> str:
    """The call's id: the same in every run of the turn."""
    return f"m{message_id}g{generation}s{step}c{index}"


def _about(call: Call, reply_to: int, generation: int) -> dict[str, Any]:
    return {"call_id": call.call_id, "name": call.name, "server": call.server, "reply_to": reply_to,
            "generation": generation, "step": call.step, "index": call.index}  # fmt: skip


def opening(call: Call, reply_to: int, generation: int, timeout_seconds: int | None = None) -> tuple[str, dict[str, Any]]:
    """The call's first event: `tool.approval` (with `timeout_seconds`) when it asks first, else `tool.started`."""
    data = _about(call, reply_to, generation) | {"arguments": call.arguments, "repeatable": call.repeatable}
    if call.text:
        data["text"] = call.text
    if timeout_seconds is not None:
        return events.TOOL_APPROVAL, data | {"timeout_seconds": timeout_seconds}
    return events.TOOL_STARTED, data


def finished(call: Call, reply_to: int, generation: int) -> tuple[str, dict[str, Any]]:
    """`tool.finished` for a call that has its result."""
    assert call.result is not None
    result = call.result
    data = _about(call, reply_to, generation) | {
        "ok": result.ok, "result": result.text, "error": result.error, "duration_ms": call.duration_ms,
    }  # fmt: skip
    if result.details:
        data["details"] = result.details
    return events.TOOL_FINISHED, data


def recorded(log: list[dict[str, Any]]) -> list[Call]:
    """The calls a turn's tool events (each {type, data}, oldest first) record, in the order they were asked."""
    calls: dict[str, Call] = {}
    for event in log:
        data = event["data"]
        call = calls.get(data["call_id"])
        if call is None:
            if "arguments" not in data:
                continue  # a finish without its opening: nothing to rebuild the request from
            call = calls[data["call_id"]] = Call(
                data["call_id"], data["step"], data["index"], data["name"], data["server"], data["arguments"],
                bool(data.get("repeatable")), data.get("text", ""),
            )  # fmt: skip
        if event["type"] == events.TOOL_APPROVAL:
            call.asked = True
        elif event["type"] == events.TOOL_STARTED:
            call.started = True
        elif event["type"] == events.TOOL_FINISHED:
            call.result = ToolResult(data["ok"], data["result"], data.get("error"), data.get("details"))
            call.duration_ms = data.get("duration_ms")
    return sorted(calls.values(), key=lambda c: (c.step, c.index))


def messages(calls: list[Call], format_: Format) -> list[dict[str, Any]]:
    """The SLM messages of the finished steps: each step's request for its calls, then their results."""
    out: list[dict[str, Any]] = []
    for step in sorted({c.step for c in calls}):
        done = [c for c in calls if c.step == step and c.result is not None]
        if not done:
            continue
        if format_ == "json":
            for call in done:  # one call per step: the JSON object it wrote, and the result as the user's words
                arguments = call.arguments if isinstance(call.arguments, str) else _sorted(call.arguments)
                out.append({"role": "assistant", "content": json.dumps({"tool": call.function, "arguments": arguments}, ensure_ascii=False)})
                out.append({"role": "user", "content": _result_words(call)})
            continue
        tool_calls = [{"id": c.call_id, "type": "function", "function": {"name": c.function, "arguments": c.arguments_text()}} for c in done]
        out.append({"role": "assistant", "content": done[0].text, "tool_calls": tool_calls})
        out += [{"role": "tool", "tool_call_id": c.call_id, "content": c.result.text} for c in done if c.result is not None]
    return out


def _sorted(value: Any) -> Any:
    """`value` with every object's keys sorted, as arguments_text writes them."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    return [_sorted(item) for item in value] if isinstance(value, list) else value


def _result_words(call: Call) -> str:
    assert call.result is not None
    outcome = "answered" if call.result.ok else "failed"
    return f"The tool {call.function} {outcome}:\n{call.result.text}"


def summary(calls: list[Call]) -> list[dict[str, Any]]:
    """The calls as an answer's `meta.steps` keeps them, for the chat's export and for reading the answer later."""
    return [
        {"call_id": c.call_id, "step": c.step, "name": c.name, "server": c.server, "arguments": c.arguments,
         "ok": c.result.ok, "result": c.result.text, "error": c.result.error, "duration_ms": c.duration_ms}
        for c in calls if c.result is not None
    ]  # fmt: skip


def changed_memories(results: list[ToolResult | None], kind: Literal["remembered", "forgotten"]) -> list[int]:
    """The ids of the memories a turn's tool results say were stored or removed, each once, in order."""
    ids: list[int] = []
    for result in results:
        details = result.details if result is not None else None
        if details and kind in details and details[kind] not in ids:
            ids.append(details[kind])
    return ids


def texts(calls: list[Call]) -> list[str]:
    """What the SLM wrote beside its calls, step by step."""
    return [c.text for c in calls if c.index == 0 and c.text]
