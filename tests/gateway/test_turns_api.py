"""Stop, regenerate and edit through the API, their turns run in this process as a worker runs them (job id, generation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from soma import config
from soma.conversations import turn
from tests import procs
from tests.conversations import harness
from tests.conversations.harness import DEFAULT_TEXT, TIMESTAMP

STALL = {"chunks": ["Partial", " answer", " never", " finished"], "stall_after": 2}  # streams two chunks, then nothing


@pytest.fixture
async def turns(
    database_url: str, slm: procs.ScriptedSLM, settings: config.Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[harness.Turns]:
    """The worker's turn machinery on the gateway's database; the SLM key is the test settings' own."""
    async with harness.turns_on_test_key(database_url, slm, settings, monkeypatch, tmp_path) as running:
        yield running


async def _chat(api, *contents: str) -> tuple[str, list[dict[str, Any]]]:
    session = (await api.post("/v1/sessions", json={"title": "Test"})).json()
    return session["id"], [(await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": c})).json() for c in contents]


async def _messages(api, session_id: str) -> list[dict[str, Any]]:
    return (await api.get(f"/v1/sessions/{session_id}/messages")).json()["messages"]


def _rows(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


async def _until_streaming(turns: harness.Turns, session_id: str) -> int:
    """Wait for the answer's first delta; returns the id of the last delta seen, as a client streaming it would."""

    async def streaming() -> list[int]:
        return [e["id"] for e in await turns.events(session_id) if e["event"] == "assistant.delta"]

    return (await procs.eventually(streaming, 4, "the answer to start streaming"))[-1]


async def _until_streamed(turns: harness.Turns, session_id: str, text: str) -> None:
    """Wait until the deltas hold the whole answer `text` (it is being stored about now) or the answer is stored."""

    async def streamed() -> bool:
        found = await turns.events(session_id)
        shown = "".join(e["data"]["text"] for e in found if e["event"] == "assistant.delta")
        return shown == text or any(e["event"] == "assistant.message" for e in found)

    await procs.eventually(streamed, 4, f"the answer {text!r} to be streamed")


async def _resumed_after(turns: harness.Turns, session_id: str, seen: int) -> list[tuple[str, Any]]:
    """What a client that saw event `seen` gets when it reconnects: the log after it, as (type, content or data)."""
    return [(e["event"], e["data"].get("message", {}).get("content")) for e in await turns.events(session_id) if e["id"] > seen]


async def test_regenerate_replaces_the_last_answer_keeps_it_as_a_version_and_runs_once(api, turns, slm) -> None:
    empty = (await api.post("/v1/sessions")).json()
    refused = await api.post(f"/v1/sessions/{empty['id']}/regenerate")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "nothing_to_regenerate")
    session_id, [user] = await _chat(api, "Hi")
    assert await turns.work() == "answered"
    [_, first] = await _messages(api, session_id)
    slm.script({"chunks": ["Second", " try"]})

    response = await api.post(f"/v1/sessions/{session_id}/regenerate")
    busy = await api.post(f"/v1/sessions/{session_id}/regenerate")

    assert (response.status_code, response.json()) == (202, {"reply_to": user["id"], "generation": 2})
    assert (busy.status_code, busy.json()["error"]) == (409, {
        "code": "turn_in_progress",
        "message": f"The answer to message {user['id']} is still queued or being written. "
        "Wait until it ends, or stop it with POST /v1/sessions/{id}/stop, then try again.",
    })  # fmt: skip
    assert await turns.work() == "answered"
    assert await turn.run(turns.engine, turns.model, harness.EMBEDDER, user["id"], turns.limits, 2) == "skipped"  # a retry
    [_, answer] = await _messages(api, session_id)
    assert (answer["id"], answer["content"], answer["stopped"]) == (first["id"], "Second try", False)
    assert answer["versions"] == [{"content": DEFAULT_TEXT, "meta": first["meta"], "created_at": TIMESTAMP}]
    sent = slm.requests()[1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]  # the replaced answer is not history
    log = await turns.events(session_id)
    assert [e["event"] for e in log] == ["message.created", "turn.started", "assistant.message", "turn.started", "assistant.message"]
    second_start = log[3]["id"]
    assert log[4]["id"] > second_start + 1  # its deltas had the ids between, and went when it was stored
    assert await _resumed_after(turns, session_id, second_start + 1) == [("assistant.message", "Second try")]


async def test_an_answer_stored_while_its_job_is_still_running_can_be_regenerated_at_once(api, turns, slm, database_url) -> None:
    session_id, [user] = await _chat(api, "Hi")
    with psycopg.connect(database_url, autocommit=True) as conn:  # the worker takes the job, as turns.work() does
        [(job_id,)] = conn.execute("UPDATE procrastinate_jobs SET status = 'doing' RETURNING id").fetchall()
    assert await turn.run(turns.engine, turns.model, harness.EMBEDDER, user["id"], turns.limits, 1, job_id) == "answered"
    # The answer is stored and shown; the worker has not yet marked the job finished.

    again = await api.post(f"/v1/sessions/{session_id}/regenerate")
    busy = await api.post(f"/v1/sessions/{session_id}/regenerate")

    assert (again.status_code, again.json()) == (202, {"reply_to": user["id"], "generation": 2})
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "turn_in_progress")  # the new one is queued


async def test_only_the_last_user_message_is_edited_and_its_answer_follows(api, turns, slm) -> None:
    session_id, [first] = await _chat(api, "Hi")
    assert await turns.work() == "answered"
    path = f"/v1/sessions/{session_id}/messages"
    last = (await api.post(path, json={"content": "Plan a trip"})).json()
    assert await turns.work() == "answered"
    [_, first_answer, _, last_answer] = await _messages(api, session_id)

    for message_id, status, code in (
        (first["id"], 409, "message_not_editable"), (last_answer["id"], 409, "message_not_editable"),
        (999_999, 404, "not_found"), (0, 422, "invalid_request"), (2**63, 422, "invalid_request"),
    ):  # fmt: skip
        response = await api.patch(f"{path}/{message_id}", json={"content": "changed"})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), message_id
    edited = await api.patch(f"{path}/{last['id']}", json={"content": "Plan a trip to Porto"})
    busy = await api.patch(f"{path}/{last['id']}", json={"content": "Or Faro"})

    assert edited.status_code == 202
    assert edited.json() == {
        **last, "content": "Plan a trip to Porto", "created_at": TIMESTAMP,
        "versions": [{"content": "Plan a trip", "meta": {}, "created_at": last["created_at"]}],
    }  # fmt: skip
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "turn_in_progress")
    assert await turns.work() == "answered"
    messages = await _messages(api, session_id)
    assert [m["content"] for m in messages] == ["Hi", DEFAULT_TEXT, "Plan a trip to Porto", DEFAULT_TEXT]
    assert [len(m["versions"]) for m in messages] == [0, 0, 1, 1] and messages[1] == first_answer
    sent = slm.requests()[2]["body"]["messages"][1:]
    assert sent == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": DEFAULT_TEXT},
                    {"role": "user", "content": "Plan a trip to Porto"}]  # fmt: skip
    assert [e["event"] for e in await turns.events(session_id)] == [
        "message.created", "turn.started", "assistant.message", "message.created", "turn.started", "assistant.message",
        "message.updated", "turn.started", "assistant.message",
    ]  # fmt: skip


async def test_stop_removes_queued_turns_and_says_so_when_nothing_runs(api, database_url) -> None:
    session_id, [one, two] = await _chat(api, "one", "two")

    removed = await api.post(f"/v1/sessions/{session_id}/stop")
    idle = await api.post(f"/v1/sessions/{session_id}/stop")

    assert (removed.status_code, removed.json()) == (
        200, {"stopping": None, "removed": [one["id"], two["id"]], "detail": "Removed 2 queued turn(s)."}
    )  # fmt: skip
    assert (idle.status_code, idle.json()) == (200, {"stopping": None, "removed": [], "detail": "Nothing was running."})
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs") == [(0,)]
    cancelled = _rows(database_url, "SELECT data FROM session_events WHERE type = 'turn.cancelled' ORDER BY id")
    assert cancelled == [({"reply_to": one["id"], "reason": "stopped"},), ({"reply_to": two["id"], "reason": "stopped"},)]
    assert [m["content"] for m in await _messages(api, session_id)] == ["one", "two"]


async def test_a_stopped_answer_ends_within_a_second_and_keeps_its_partial_text(api, turns, slm, database_url) -> None:
    slm.script(STALL)
    session_id, [user] = await _chat(api, "Tell me everything")
    working = asyncio.create_task(turns.work())
    seen = await _until_streaming(turns, session_id)

    response = await api.post(f"/v1/sessions/{session_id}/stop")
    outcome = await asyncio.wait_for(working, timeout=2)  # the SLM would stall for an hour

    assert (response.status_code, response.json()) == (
        202, {"stopping": user["id"], "removed": [], "detail": f"Stopping the answer to message {user['id']}."}
    )  # fmt: skip
    assert outcome == "stopped"
    [_, answer] = await _messages(api, session_id)
    assert (answer["content"], answer["stopped"], answer["meta"]["stopped"]) == ("Partial answer", True, True)
    assert [e["event"] for e in await turns.events(session_id)] == ["message.created", "turn.started", "assistant.message"]
    assert await _resumed_after(turns, session_id, seen) == [("assistant.message", "Partial answer")]
    assert _rows(database_url, "SELECT count(*) FROM turn_stops") == [(0,)]


async def test_a_stop_racing_the_end_of_an_answer_leaves_exactly_one_answer(api, turns, slm, database_url) -> None:
    session_id, [user] = await _chat(api, "Hi")
    slm.script({"chunks": ["One", " two", " three"], "delay": 0.05})
    working = asyncio.create_task(turns.work())
    await _until_streamed(turns, session_id, "One two three")  # the stop races the answer being stored

    stop = await api.post(f"/v1/sessions/{session_id}/stop")
    await asyncio.wait_for(working, timeout=2)
    with psycopg.connect(database_url) as conn:  # the answer is stored; the worker has not yet marked its job done
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing'")
    late = await api.post(f"/v1/sessions/{session_id}/stop")

    assert stop.status_code in (200, 202)
    answers = [m for m in await _messages(api, session_id) if m["role"] == "assistant"]
    assert len(answers) == 1 and "One two three".startswith(answers[0]["content"])
    assert answers[0]["stopped"] == (answers[0]["content"] != "One two three")
    assert (late.status_code, late.json()["detail"]) == (200, "Nothing was running.")
    assert _rows(database_url, "SELECT count(*) FROM turn_stops") == [(0,)]


async def test_a_chat_deleted_while_it_streams_stops_its_turn_and_stays_deleted(api, turns, slm, database_url) -> None:
    slm.script(STALL)
    session_id, _ = await _chat(api, "Tell me everything")
    working = asyncio.create_task(turns.work())
    await _until_streaming(turns, session_id)

    assert (await api.delete(f"/v1/sessions/{session_id}")).status_code == 204

    assert await asyncio.wait_for(working, timeout=2) == "skipped"
    assert (await api.get(f"/v1/sessions/{session_id}")).status_code == 404
    assert _rows(database_url, "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM session_events)") == [(0, 0)]
