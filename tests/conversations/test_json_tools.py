"""Reading a tool request out of a model's text (`tool_call_format` json): leniently, with one kind of answer for each text."""

from __future__ import annotations

import json

import pytest

from soma.conversations import json_tools
from soma.tools import builtin_tools, builtins
from soma.tools.registry import Offered, Toolset
from tests.conftest import EMBEDDER
from tests.conversations import probes

TOOLS = Toolset([Offered(builtin_tools.Remember(None, EMBEDDER)), Offered(probes.Probe("read", "files"))])  # type: ignore[arg-type]  # nothing runs
REMEMBER = json_tools.ToolRequest("remember", {"content": "Rex is a dog."})


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('{"tool": "remember", "arguments": {"content": "Rex is a dog."}}', REMEMBER),
        ('```json\n{"tool": "remember", "arguments": {"content": "Rex is a dog."}}\n```', REMEMBER),
        ('I will note it.\n{"tool": "remember", "arguments": {"content": "Rex is a dog."}} Done.', REMEMBER),
        ('{"tool_name": "remember", "tool_args": {"content": "Rex is a dog."}}', REMEMBER),
        ('{"tool": "remember", "arguments": "{\\"content\\": \\"Rex is a dog.\\"}"}', REMEMBER),
        ('{"tool": "files__read"}', json_tools.ToolRequest("files__read", {})),
        ("Rex is a good dog.", json_tools.Plain("Rex is a good dog.")),
        ('{"answer": "Rex is a good dog."}', json_tools.Plain("Rex is a good dog.")),
        ('Here is the JSON: {"dog": "Rex"}', json_tools.Plain('Here is the JSON: {"dog": "Rex"}')),
        ('{"tool": "search_web", "arguments": {}}', json_tools.Malformed("there is no tool named 'search_web'")),
        ('{"tool": "remember", "arguments": ["Rex"]}', json_tools.Malformed("the arguments ['Rex'] are not a JSON object")),
        ('{"tool": "remember", "arguments": {"content": "Rex}', json_tools.Malformed("it is not valid JSON")),
    ],
)
def test_a_models_text_is_read_as_a_tool_request_an_answer_or_a_request_to_correct(text: str, parsed: object) -> None:
    assert json_tools.parse(text, TOOLS) == parsed


def test_the_instructions_and_schema_name_every_tool_offered() -> None:
    instructions = json_tools.instructions(TOOLS)
    schema = json_tools.response_format(TOOLS)

    assert instructions.splitlines()[-2:] == [
        f"- remember: {builtins.REMEMBER.description} Arguments (JSON Schema): {json.dumps(builtins.REMEMBER.input_schema)}",
        f"- files__read: The read probe. Arguments (JSON Schema): {json.dumps(probes.ARGUMENTS)}",
    ]
    [request, answer] = schema["json_schema"]["schema"]["anyOf"]
    assert request["properties"]["tool"] == {"type": "string", "enum": ["remember", "files__read"]}
    assert answer["required"] == ["answer"]

