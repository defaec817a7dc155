"""Tool rounds in a turn: the SLM calls remember, reads the result, and answers; at most two rounds."""

from __future__ import annotations

import json

from soma.memory import tools
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.conversations.harness import DEFAULT_TEXT, answered_at_once, assistant_message, condensed, user_message


def _call(index: int, name: str, arguments: dict) -> dict:
    """A tool call as the assistant message sent back to the SLM carries it."""
    return {"id": f"call_{index}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


async def test_a_remember_tool_call_stores_a_memory_and_the_final_answer_streams(turns, slm) -> None:
    arguments = {"content": "The user's dog is called Rex."}
    slm.script({"tool_calls": [{"name": "remember", "arguments": arguments}]})

    turn = await turns.answer("My dog is called Rex.")

    user = user_message(turn.session_id, 1, "My dog is called Rex.")
    reply = assistant_message(user, 2, DEFAULT_TEXT, remembered=[1])
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)
    assert await turns.memories() == [(1, "The user's dog is called Rex.", "agent")]
    first, second = (r["body"] for r in slm.requests())
    assert first["tools"] == second["tools"] == tools.DEFINITIONS
    assert first["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "My dog is called Rex."},
    ]
    assert second["messages"] == first["messages"] + [
        {"role": "assistant", "content": "", "tool_calls": [_call(0, "remember", arguments)]},
        {"role": "tool", "tool_call_id": "call_0", "content": "Remembered as memory 1: The user's dog is called Rex."},
    ]


async def test_after_two_tool_rounds_the_slm_is_asked_without_tools(turns, slm) -> None:
    rex, porto = {"content": "The user's dog is called Rex."}, {"content": "The user lives in Porto."}
    slm.script({"tool_calls": [{"name": "remember", "arguments": rex}]}, {"tool_calls": [{"name": "remember", "arguments": porto}]})

    turn = await turns.answer("My dog Rex and I live in Porto.")

    user = user_message(turn.session_id, 1, "My dog Rex and I live in Porto.")
    reply = assistant_message(user, 2, DEFAULT_TEXT, remembered=[1, 2])
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)
    assert await turns.memories() == [(1, "The user's dog is called Rex.", "agent"), (2, "The user lives in Porto.", "agent")]
    requests = [r["body"] for r in slm.requests()]
    assert [body.get("tools") for body in requests] == [tools.DEFINITIONS, tools.DEFINITIONS, None]
    assert requests[2]["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "My dog Rex and I live in Porto."},
        {"role": "assistant", "content": "", "tool_calls": [_call(0, "remember", rex)]},
        {"role": "tool", "tool_call_id": "call_0", "content": "Remembered as memory 1: The user's dog is called Rex."},
        {"role": "assistant", "content": "", "tool_calls": [_call(0, "remember", porto)]},
        {"role": "tool", "tool_call_id": "call_0", "content": "Remembered as memory 2: The user lives in Porto."},
    ]


async def test_an_slm_that_refuses_tools_with_400_is_asked_again_without_them(turns, slm) -> None:
    slm.script({"status": 400})

    turn = await turns.answer("Hi")

    user = user_message(turn.session_id, 1, "Hi")
    reply = assistant_message(user, 2, DEFAULT_TEXT)
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)  # once: nothing streamed before the refusal
    first, second = (r["body"] for r in slm.requests())
    assert first["tools"] == tools.DEFINITIONS and "tools" not in second
    assert first["messages"] == second["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Hi"},
    ]
