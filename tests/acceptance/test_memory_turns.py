"""Memory in real turns: gateway and worker processes, the scripted SLM, the real embedding model."""

from __future__ import annotations

import json

import psycopg

from soma.memory import intents, tools
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.memory import unrelated
from tests.procs import has_event

DEFAULT_TEXT = "Hello from the scripted SLM."
SLOW = 180  # seconds: each process loads the embedding model on first use, on a shared machine


def _rows(stack) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute("SELECT id, content, source FROM memories ORDER BY id").fetchall()


def _remember_via_api(stack, content: str) -> dict:
    response = stack.client.post(stack.url + "/v1/memories", json={"content": content}, timeout=SLOW)
    assert response.status_code == 201, response.text
    return response.json()


def _reply(stack, session: str, count: int = 1) -> dict:
    return stack.events(session, has_event("assistant.message", count), timeout=SLOW)[-1]["data"]["message"]


def test_a_stored_fact_is_recalled_into_a_later_turn_among_1000_unrelated_memories(stack) -> None:
    stack.worker()
    fact = _remember_via_api(stack, "My sister Alice lives in Lisbon.")
    unrelated.insert(stack.database_url, unrelated.facts())
    session = stack.new_session()

    stack.send(session, "Where does my sister Alice live?")
    reply = _reply(stack, session)

    [request] = stack.slm.requests()
    assert request["body"]["messages"] == [
        {"role": "system", "content": f"{DEFAULT_SYSTEM_PROMPT}\n\nWhat you remember:\n- My sister Alice lives in Lisbon."},
        {"role": "user", "content": "Where does my sister Alice live?"},
    ]
    assert (reply["content"], reply["meta"]["memories"], reply["meta"]["remembered"]) == (DEFAULT_TEXT, [fact["id"]], [])
    assert len(_rows(stack)) == 1001


def test_remember_that_stores_one_memory_and_the_same_fact_twice_stores_one(stack) -> None:
    stack.worker()
    session = stack.new_session()

    stack.send(session, "Remember that my favourite colour is teal.")
    first = _reply(stack, session)
    stack.send(session, "Please remember that my favourite colour is teal")
    second = _reply(stack, session, count=2)

    assert _rows(stack) == [(1, "my favourite colour is teal", "agent")]
    assert (first["meta"]["remembered"], second["meta"]["remembered"]) == ([1], [1])
    assert (first["content"], second["content"]) == (DEFAULT_TEXT, DEFAULT_TEXT)
    stored = intents.note("Remembered as memory 1: my favourite colour is teal.")
    merged = intents.note("Updated memory 1, which said the same, to: my favourite colour is teal")
    sent = [r["body"]["messages"][0]["content"] for r in stack.slm.requests()]
    assert sent == [
        f"{DEFAULT_SYSTEM_PROMPT}\n\n{stored}",
        f"{DEFAULT_SYSTEM_PROMPT}\n\nWhat you remember:\n- my favourite colour is teal.\n\n{merged}",
    ]


def test_forget_that_removes_the_memory_it_names(stack) -> None:
    kept = _remember_via_api(stack, "The dentist is on Baker Street.")
    gone = _remember_via_api(stack, "my favourite colour is teal")
    stack.worker()
    session = stack.new_session()

    stack.send(session, "Forget that my favourite colour is teal.")
    reply = _reply(stack, session)

    assert _rows(stack) == [(kept["id"], "The dentist is on Baker Street.", "user")]
    assert (reply["meta"]["forgotten"], reply["meta"]["remembered"]) == ([gone["id"]], [])
    note = intents.note(f"Forgot memory {gone['id']}: my favourite colour is teal")
    system = stack.slm.requests()[0]["body"]["messages"][0]["content"]
    assert system == f"{DEFAULT_SYSTEM_PROMPT}\n\nWhat you remember:\n- my favourite colour is teal\n\n{note}"


def test_a_remember_tool_call_stores_a_memory_and_the_final_answer_streams(stack) -> None:
    arguments = {"content": "The user's dog is called Rex."}
    stack.slm.script({"tool_calls": [{"name": "remember", "arguments": arguments}]})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "My dog is called Rex.")

    events = stack.events(session, has_event("assistant.message"), timeout=SLOW)

    assert "".join(e["data"]["text"] for e in events if e["event"] == "assistant.delta") == DEFAULT_TEXT
    assert [e["data"]["attempt"] for e in events if e["event"] == "turn.started"] == [1]
    reply = events[-1]["data"]["message"]
    assert (reply["content"], reply["meta"]["remembered"]) == (DEFAULT_TEXT, [1])
    assert _rows(stack) == [(1, "The user's dog is called Rex.", "agent")]
    first, second = stack.slm.requests()
    assert first["body"]["tools"] == second["body"]["tools"] == tools.DEFINITIONS
    assert second["body"]["messages"] == first["body"]["messages"] + [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "remember", "arguments": json.dumps(arguments)}}],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "Remembered as memory 1: The user's dog is called Rex."},
    ]


def test_after_two_tool_rounds_the_slm_is_asked_without_tools(stack) -> None:
    stack.slm.script(
        {"tool_calls": [{"name": "remember", "arguments": {"content": "The user's dog is called Rex."}}]},
        {"tool_calls": [{"name": "remember", "arguments": {"content": "The user lives in Porto."}}]},
    )
    stack.worker()
    session = stack.new_session()
    stack.send(session, "My dog Rex and I live in Porto.")

    reply = _reply(stack, session)

    assert (reply["content"], reply["meta"]["remembered"]) == (DEFAULT_TEXT, [1, 2])
    assert ["tools" in r["body"] for r in stack.slm.requests()] == [True, True, False]
    assert [m["role"] for m in stack.slm.requests()[2]["body"]["messages"]] == [
        "system", "user", "assistant", "tool", "assistant", "tool",
    ]


def test_an_slm_that_refuses_tools_with_400_is_asked_again_without_them(stack) -> None:
    stack.slm.script({"status": 400})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hi")

    reply = _reply(stack, session)

    assert reply["content"] == DEFAULT_TEXT
    first, second = stack.slm.requests()
    assert first["body"]["tools"] == tools.DEFINITIONS and "tools" not in second["body"]
    assert first["body"]["messages"] == second["body"]["messages"]


def test_with_memory_disabled_nothing_is_recalled_stored_or_offered(stack) -> None:
    _remember_via_api(stack, "My sister Alice lives in Lisbon.")
    response = stack.client.put(stack.url + "/v1/settings", json={"memory_enabled": False})
    assert response.status_code == 200, response.text
    stack.worker()
    session = stack.new_session()

    stack.send(session, "Remember that my sister Alice lives in Lisbon.")
    reply = _reply(stack, session)

    [request] = stack.slm.requests()
    assert request["body"]["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Remember that my sister Alice lives in Lisbon."},
    ]
    assert "tools" not in request["body"]
    assert (reply["meta"]["memories"], reply["meta"]["remembered"]) == ([], [])
    assert _rows(stack) == [(1, "My sister Alice lives in Lisbon.", "user")]
