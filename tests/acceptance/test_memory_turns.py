"""Memory in real turns: gateway and worker processes, the scripted SLM, the real embedding model."""

from __future__ import annotations

import psycopg

from soma.memory import intents
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
