"""Tools for SLMs without native tool calls (`tool_call_format` json): one JSON object in the answer's text, as Agent Zero asks.

The system message describes the tools and the object, `{"tool": name, "arguments": {...}}`; the
request carries the same as a JSON-schema `response_format` when the server takes one (the schema
also allows `{"answer": text}`, since a server that enforces it lets the model write nothing else).
Parsing is lenient: the object may sit in a code fence or among other words, and `tool_name` /
`tool_args` (Agent Zero's keys) are read too. A request that cannot be used gets one correction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from soma.tools.registry import Toolset

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TOOL_KEYS = ("tool", "tool_name")
_ARGUMENT_KEYS = ("arguments", "tool_args", "args", "parameters")

LAST_STEP = "You can use no more tools in this turn: answer the user now, in plain text, with what you have."


@dataclass(frozen=True)
class ToolRequest:
    """The model asked for a tool."""

    function: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Plain:
    """The model answered: the answer's text."""

    text: str


@dataclass(frozen=True)
class Malformed:
    """The model tried to ask for a tool, but the request cannot be used; `problem` says why."""

    problem: str


def instructions(toolset: Toolset) -> str:
    """What the system message adds: the tools, and how to ask for one."""
    lines = [
        "You can use tools. To use one, reply with only one JSON object and nothing else:",
        '{"tool": "<tool name>", "arguments": {<the arguments>}}',
        "Its result comes in the next message; then use another tool or answer. "
        'To answer the user, write the answer in plain text (or as {"answer": "<the answer>"}).',
        "The tools:",
    ]
    for definition in toolset.definitions():
        function = definition["function"]
        lines.append(f"- {function['name']}: {function['description']} Arguments (JSON Schema): {json.dumps(function['parameters'])}")
    return "\n".join(lines)


def response_format(toolset: Toolset) -> dict[str, Any]:
    """The OpenAI `response_format` that lets the model write a tool request or an answer, and nothing else."""
    request = {
        "type": "object",
        "properties": {"tool": {"type": "string", "enum": toolset.names()}, "arguments": {"type": "object"}},
        "required": ["tool", "arguments"],
    }
    answer = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    return {"type": "json_schema", "json_schema": {"name": "tool_request_or_answer", "schema": {"anyOf": [request, answer]}}}


def parse(text: str, toolset: Toolset) -> ToolRequest | Plain | Malformed:
    """What the model's text is: a tool request, an answer, or a request that cannot be used."""
    found = _first_object(text)
    if found is None:
        if any(f'"{key}"' in text for key in _TOOL_KEYS):
            return Malformed("it is not valid JSON")
        return Plain(text.strip())
    key = next((k for k in _TOOL_KEYS if k in found), None)
    if key is None:
        answer = found.get("answer")
        return Plain(answer.strip() if isinstance(answer, str) and len(found) == 1 else text.strip())
    function = found[key]
    if not isinstance(function, str) or toolset.get(function) is None:
        return Malformed(f"there is no tool named {function!r}")
    arguments = next((found[k] for k in _ARGUMENT_KEYS if k in found), {})
    if isinstance(arguments, str):  # some models write the arguments as JSON text
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            pass
    if not isinstance(arguments, dict):
        return Malformed(f"the arguments {arguments!r} are not a JSON object")
    return ToolRequest(function, arguments)


def correction(problem: str, toolset: Toolset) -> str:
    """The one message that answers a request that cannot be used."""
    names = ", ".join(toolset.names())
    return (
        f"Your tool request could not be used: {problem}. To use a tool, reply with only one JSON object, "
        f'{{"tool": "<one of: {names}>", "arguments": {{...}}}}; to answer, write the answer in plain text.'
    )


def _first_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the text: inside a code fence first, else anywhere among other words."""
    decoder = json.JSONDecoder()
    for candidate in [*_FENCE.findall(text), text]:
        for start in (i for i, char in enumerate(candidate) if char == "{"):
            try:
                value, _end = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None
