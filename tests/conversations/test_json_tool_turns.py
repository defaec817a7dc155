"""Turns with `tool_call_format` json: the tools described in the system message, one JSON request in the text, one correction."""

from __future__ import annotations

import json

import pytest

from soma.conversations import json_tools
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from soma.tools import builtin_tools, delegate
from soma.tools.registry import Offered, Toolset
from tests.conftest import EMBEDDER
from tests.conversations.harness import DEFAULT_TEXT, SHIPPED_PROFILES

MEMORY = [Offered(tool) for name, tool in builtin_tools.every(None, EMBEDDER).items() if name in ("remember", "forget")]  # type: ignore[arg-type]
TOOLS = Toolset([*MEMORY, Offered(delegate.Delegate(SHIPPED_PROFILES, 0, 3, None))])  # type: ignore[arg-type]  # nothing runs
SYSTEM = {"role": "system", "content": f"{DEFAULT_SYSTEM_PROMPT}\n\n{json_tools.instructions(TOOLS)}"}
REX = {"tool": "remember", "arguments": {"content": "Rex is a dog."}}
REMEMBERED = {"role": "user", "content": "The tool remember answered:\nRemembered as memory 1: Rex is a dog."}


@pytest.fixture(autouse=True)
async def _json_format(turns) -> None:
    await turns.change_settings({"tool_call_format": "json"})


async def test_a_json_request_in_the_text_runs_and_its_result_comes_back_in_the_users_words(turns, slm) -> None:
    text = json.dumps(REX)
    slm.script({"chunks": [text[:20], text[20:]]})

    turn = await turns.answer("My dog is Rex.")

    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", DEFAULT_TEXT)  # the request is no part of the answer
    assert turn.messages[-1]["meta"]["remembered"] == [1]
    first, second = (r["body"] for r in slm.requests())
    assert "tools" not in first and first["response_format"] == json_tools.response_format(TOOLS)
    assert first["messages"] == [SYSTEM, {"role": "user", "content": "My dog is Rex."}]
    assert second["messages"] == [*first["messages"], {"role": "assistant", "content": text}, REMEMBERED]
    assert [kind for kind in (e["event"] for e in turn.events) if kind.startswith("tool.")] == ["tool.started", "tool.finished"]


async def test_a_request_that_cannot_be_used_gets_one_correction(turns, slm) -> None:
    wrong = '{"tool": "search_web", "arguments": {"q": "Rex"}}'
    slm.script({"chunks": [wrong]}, {"chunks": [f"```json\n{json.dumps(REX)}\n```"]})

    turn = await turns.answer("My dog is Rex.")

    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", DEFAULT_TEXT)
    first, corrected, after = (r["body"]["messages"] for r in slm.requests())
    correction = json_tools.correction("there is no tool named 'search_web'", TOOLS)
    assert corrected == [*first, {"role": "assistant", "content": wrong}, {"role": "user", "content": correction}]
    assert after == [*first, {"role": "assistant", "content": json.dumps(REX)}, REMEMBERED]
    assert correction == (
        "Your tool request could not be used: there is no tool named 'search_web'. To use a tool, reply with only one JSON "
        'object, {"tool": "<one of: remember, forget, delegate>", "arguments": {...}}; to answer, write the answer in plain text.'
    )


async def test_a_second_request_that_cannot_be_used_is_taken_as_the_answer(turns, slm) -> None:
    slm.script({"chunks": ['{"tool": "fly"}']}, {"chunks": ['{"tool": "fly", "arguments": {}}']})

    turn = await turns.answer("Fly me.")

    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", '{"tool": "fly", "arguments": {}}')
    assert len(slm.requests()) == 2


async def test_a_server_that_refuses_the_response_format_is_asked_again_without_it(turns, slm) -> None:
    slm.script({"status": 400})

    turn = await turns.answer("Hi")

    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", DEFAULT_TEXT)
    first, second = (r["body"] for r in slm.requests())
    assert "response_format" in first and "response_format" not in second
    assert first["messages"] == second["messages"] == [SYSTEM, {"role": "user", "content": "Hi"}]


async def test_the_last_step_tells_the_model_it_has_no_tools_left(turns, slm) -> None:
    await turns.change_settings({"max_tool_steps": 2})
    slm.script({"chunks": [json.dumps(REX)]})

    await turns.answer("My dog is Rex.")

    last = slm.requests()[1]["body"]
    assert "response_format" not in last
    assert last["messages"] == [
        {"role": "system", "content": f"{DEFAULT_SYSTEM_PROMPT}\n\n{json_tools.LAST_STEP}"},
        {"role": "user", "content": "My dog is Rex."},
        {"role": "assistant", "content": json.dumps(REX)},
        REMEMBERED,
    ]
