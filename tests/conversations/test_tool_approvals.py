"""Tools set to `ask`: the turn waits for POST /v1/sessions/{id}/approvals/{call_id}, runs or not, and the SLM reads which."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tests import procs
from tests.conftest import client_of
from tests.conversations import harness

ADMIN_ACTOR = "key:bootstrap admin (SOMA_BOOTSTRAP_ADMIN_KEY)"
REX = {"name": "remember", "arguments": {"content": "The user's dog is called Rex."}}
CALL = "m1g1s1c0"


@pytest.fixture(autouse=True)
async def _remember_asks(turns: harness.Turns, slm: procs.ScriptedSLM) -> None:
    await turns.choose_tool("soma", "remember", approval="ask")
    slm.script({"tool_calls": [REX]})


async def _asking(api, turns: harness.Turns) -> tuple[str, asyncio.Task]:
    """A chat whose turn runs, as a worker runs it, until its remember call waits for approval."""
    session_id = (await api.post("/v1/sessions", json={})).json()["id"]
    await api.post(f"/v1/sessions/{session_id}/messages", json={"content": "My dog is called Rex."})
    working = asyncio.create_task(turns.work())
    await procs.eventually(lambda: _kinds(turns, session_id, "tool.approval"), 10, "the call to ask for approval")
    return session_id, working


async def _kinds(turns: harness.Turns, session_id: str, *only: str) -> list[str]:
    return [e["event"] for e in await turns.events(session_id) if e["event"] in only or (not only and e["event"].startswith("tool."))]


async def _finished(turns: harness.Turns, session_id: str) -> dict:
    [data] = [e["data"] for e in await turns.events(session_id) if e["event"] == "tool.finished"]
    return data


def _audit(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT action, actor, target, details FROM audit_log WHERE action LIKE 'tool.%' ORDER BY id").fetchall()


async def test_an_allowed_call_runs_and_the_audit_log_names_who_allowed_it(api, turns, slm, database_url) -> None:
    session_id, working = await _asking(api, turns)
    [asked] = [e["data"] for e in await turns.events(session_id) if e["event"] == "tool.approval"]

    response = await api.post(f"/v1/sessions/{session_id}/approvals/{CALL}", json={"allow": True})

    assert (response.status_code, response.json()) == (
        200, {"call_id": CALL, "allow": True, "server": "soma", "name": "remember", "decided_by": ADMIN_ACTOR}
    )  # fmt: skip
    assert await working == "answered"
    assert asked == {
        "call_id": CALL, "name": "remember", "server": "soma", "arguments": REX["arguments"], "repeatable": True,
        "reply_to": 1, "generation": 1, "step": 1, "index": 0, "timeout_seconds": 300,
    }  # fmt: skip
    assert await _kinds(turns, session_id) == ["tool.approval", "tool.started", "tool.finished"]
    assert (await _finished(turns, session_id))["ok"] is True
    assert await turns.memories() == [(1, "The user's dog is called Rex.", "agent")]
    assert _audit(database_url) == [("tool.allowed", ADMIN_ACTOR, session_id, {"call_id": CALL, "server": "soma", "tool": "remember"})]


async def test_a_denied_call_never_runs_and_the_slm_reads_that_it_was_denied(api, turns, slm, database_url) -> None:
    session_id, working = await _asking(api, turns)

    response = await api.post(f"/v1/sessions/{session_id}/approvals/{CALL}", json={"allow": False})

    assert response.status_code == 200 and response.json()["allow"] is False
    assert await working == "answered"
    assert await _kinds(turns, session_id) == ["tool.approval", "tool.finished"]
    finished = await _finished(turns, session_id)
    assert (finished["ok"], finished["error"], finished["result"]) == (False, "denied", "The user denied this call; it did not run.")
    assert slm.requests()[1]["body"]["messages"][-1] == {"role": "tool", "tool_call_id": CALL, "content": finished["result"]}
    assert await turns.memories() == []
    assert [action for action, *_ in _audit(database_url)] == ["tool.denied"]


async def test_a_call_no_one_answers_times_out_and_a_late_answer_is_409(api, turns, slm) -> None:
    await turns.change_settings({"tool_approval_timeout_seconds": 1})
    session_id, working = await _asking(api, turns)

    assert await working == "answered"
    late = await api.post(f"/v1/sessions/{session_id}/approvals/{CALL}", json={"allow": True})

    finished = await _finished(turns, session_id)
    assert (finished["ok"], finished["error"], finished["result"]) == (False, "timeout", "No one allowed this call in time; it did not run.")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "approval_decided")
    assert late.json()["error"]["message"].startswith(f"Tool call '{CALL}' was timed out already.")
    assert await turns.memories() == []


async def test_only_the_chats_owner_or_an_admin_may_answer_and_only_a_waiting_call(api, gateway, turns) -> None:
    session_id, working = await _asking(api, turns)
    key = (await api.post("/v1/keys", json={"name": "member", "scopes": ["chat"]})).json()["key"]
    url = f"/v1/sessions/{session_id}/approvals"

    async with client_of(gateway, {"Authorization": f"Bearer {key}"}) as member:
        stranger = await member.post(f"{url}/{CALL}", json={"allow": True})
    unknown = await api.post(f"{url}/m1g1s9c0", json={"allow": True})
    bad = [await api.post(f"{url}/{CALL}", json=body) for body in ({}, {"allow": "maybe"}, {"allow": True, "why": "x"})]
    allowed = await api.post(f"{url}/{CALL}", json={"allow": True})
    again = await api.post(f"{url}/{CALL}", json={"allow": False})

    assert (stranger.status_code, stranger.json()["error"]["code"]) == (404, "not_found")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (409, "approval_not_waiting")
    assert [(r.status_code, r.json()["error"]["code"]) for r in bad] == [(422, "invalid_request")] * 3
    assert allowed.status_code == 200
    assert (again.status_code, again.json()["error"]["code"]) == (409, "approval_decided")
    assert await working == "answered"


async def test_a_stop_while_a_call_waits_ends_the_turn_and_the_call_stays_unrun(api, turns) -> None:
    session_id, working = await _asking(api, turns)

    stop = await api.post(f"/v1/sessions/{session_id}/stop")

    assert stop.status_code == 202 and await working == "stopped"
    assert await _kinds(turns, session_id) == ["tool.approval", "tool.finished"]
    assert (await _finished(turns, session_id))["error"] == "stopped"
    late = await api.post(f"/v1/sessions/{session_id}/approvals/{CALL}", json={"allow": True})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "approval_not_waiting")
    assert await turns.memories() == []


async def test_an_answer_given_while_no_worker_waits_is_honoured_when_the_turn_resumes(api, turns) -> None:
    session_id, working = await _asking(api, turns)
    working.cancel()  # the worker is gone; its call still waits
    await asyncio.gather(working, return_exceptions=True)

    allowed = await api.post(f"/v1/sessions/{session_id}/approvals/{CALL}", json={"allow": True})
    outcome = await turns.run(1)

    assert (allowed.status_code, outcome) == (200, "answered")
    assert await _kinds(turns, session_id) == ["tool.approval", "tool.started", "tool.finished"]  # not asked again
    assert await turns.memories() == [(1, "The user's dog is called Rex.", "agent")]
