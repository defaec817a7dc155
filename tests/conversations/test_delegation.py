"""The `delegate` tool in turns run in this process: the child chat, the depth limit, unknown profiles and the shared step budget.

Processes (a worker killed mid-delegation, a stop from the API) are in tests/acceptance/test_delegation.py.
"""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from soma.conversations import sessions
from tests import procs
from tests.conversations.harness import DEFAULT_TEXT, condensed


def _delegating(profile: str, task: str, text: str = "") -> dict:
    """A scripted SLM step that delegates `task` to `profile`."""
    return {"chunks": [text] if text else [], "tool_calls": [{"name": "delegate", "arguments": {"profile": profile, "task": task}}]}


def _finished(events: list[dict]) -> list[dict]:
    return [data for kind, data in condensed(events) if kind == "tool.finished"]


def _offered(body: dict) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]


async def _children(turns, parent: uuid.UUID) -> list[dict]:
    query = sa.text("SELECT id FROM chat_sessions WHERE parent_session_id = :parent ORDER BY created_at")
    async with turns.engine.connect() as conn:
        return [await sessions.get(conn, row.id) for row in await conn.execute(query, {"parent": parent})]


async def test_a_delegation_runs_the_task_in_a_child_chat_and_its_answer_is_the_result(turns, slm) -> None:
    slm.script(_delegating("researcher", "Find what the handbook says about leave."), {"chunks": ["Leave is 25 days."]},
               {"chunks": ["The handbook grants 25 days."]})  # fmt: skip

    turn = await turns.answer("How much leave do I get?")

    [child] = await _children(turns, turn.session_id)
    assert (child["title"], child["profile"], child["parent_session_id"], child["depth"]) == (
        "Find what the handbook says about leave.", "researcher", str(turn.session_id), 1,
    )  # fmt: skip
    kinds = [kind for kind, _ in condensed(turn.events)]
    assert kinds == ["message.created", "turn.started", "tool.started", "delegate.started", "delegate.finished", "tool.finished", "assistant.message"]
    by_kind = dict(condensed(turn.events))
    call_id = "m1g1s1c0"
    assert by_kind["delegate.started"] == {"call_id": call_id, "profile": "researcher", "session_id": child["id"]}
    assert by_kind["delegate.finished"] == {"call_id": call_id, "session_id": child["id"], "ok": True}
    [finished] = _finished(turn.events)
    assert (finished["ok"], finished["result"], finished["details"]) == (True, "Leave is 25 days.", {"session_id": child["id"], "profile": "researcher", "ok": True})
    assert turn.messages[-1]["content"] == "The handbook grants 25 days."
    child_messages = await turns.messages(uuid.UUID(child["id"]))
    assert [(m["role"], m["content"]) for m in child_messages] == [("user", "Find what the handbook says about leave."), ("assistant", "Leave is 25 days.")]
    assert await turns.queued_jobs() == [("turns", "soma.turn", f"session:{turn.session_id}", {"session_id": str(turn.session_id), "message_id": 1}, "todo")]
    child_request = slm.requests()[1]["body"]
    assert child_request["messages"][1:] == [{"role": "user", "content": "Find what the handbook says about leave."}]  # not the parent's chat


async def test_past_the_depth_limit_delegate_is_not_offered_and_a_call_of_it_is_refused_naming_the_setting(turns, slm) -> None:
    await turns.change_settings({"delegation_max_depth": 1})
    slm.script(_delegating("assistant", "Plan the trip."), _delegating("assistant", "Book the train."), {"chunks": ["Planned."]}, {"chunks": ["Done."]})

    turn = await turns.answer("Organise my trip.")

    [child] = await _children(turns, turn.session_id)
    assert await _children(turns, uuid.UUID(child["id"])) == []
    top, first_child, second_child, top_again = (r["body"] for r in slm.requests())
    assert "delegate" in _offered(top) and "delegate" not in _offered(first_child)
    refusal = [m["content"] for m in second_child["messages"] if m["role"] == "tool"]
    assert refusal == [
        "Delegation is limited to 1 level(s) below the user's chat (the delegation_max_depth setting), and this chat is "
        "1 level(s) down, so it cannot delegate. Do the task yourself."
    ]
    [refused] = _finished(await turns.events(uuid.UUID(child["id"])))
    assert (refused["name"], refused["ok"], refused["error"]) == ("delegate", False, "depth_limit")
    assert [d["result"] for d in _finished(turn.events)] == ["Planned."]
    assert top_again["messages"][-1] == {"role": "tool", "tool_call_id": "m1g1s1c0", "content": "Planned."}


async def test_an_unknown_profile_is_refused_naming_the_profiles_and_no_child_chat_is_made(turns, slm) -> None:
    slm.script(_delegating("wizard", "Do magic."))

    turn = await turns.answer("Do magic.")

    [refused] = _finished(turn.events)
    assert (refused["ok"], refused["error"], refused["result"]) == (
        False, "unknown_profile", "There is no agent profile named 'wizard'; the profiles are: assistant, coder, researcher.",
    )  # fmt: skip
    assert await _children(turns, turn.session_id) == []
    assert turn.messages[-1]["content"] == DEFAULT_TEXT


async def test_a_child_takes_no_more_steps_than_its_parent_has_left(turns, slm) -> None:
    await turns.change_settings({"max_tool_steps": 4})  # the whole tree's: the child's own profile allows 4 as well
    remember = {"tool_calls": [{"name": "remember", "arguments": {"content": "The trip is in May."}}]}
    slm.script(_delegating("assistant", "Note the trip."), remember, remember, {"chunks": ["Parent answers."]})

    turn = await turns.answer("Note my trip.")

    [child] = await _children(turns, turn.session_id)
    bodies = [r["body"] for r in slm.requests()]
    assert len(bodies) == 4  # parent 1, child 1 (tools: one request left), child 2 (none left: it answers), parent 2
    assert [bool(_offered(b)) for b in bodies] == [True, True, False, False]
    assert [b["messages"][1]["content"] for b in bodies] == ["Note my trip.", "Note the trip.", "Note the trip.", "Note my trip."]
    child_answer = (await turns.messages(uuid.UUID(child["id"])))[-1]
    assert len(child_answer["meta"]["steps"]) == 1  # the second remember was not offered, so not run
    assert turn.messages[-1]["content"] == "Parent answers."


async def test_a_parent_at_its_last_tool_step_cannot_delegate_and_makes_no_child(turns, slm) -> None:
    await turns.change_settings({"max_tool_steps": 2})  # step 1 may use tools, step 2 answers: nothing left for a child
    slm.script(_delegating("assistant", "Anything."), {"chunks": ["On my own."]})

    turn = await turns.answer("Help.")

    [refused] = _finished(turn.events)
    assert (refused["ok"], refused["error"]) == (False, "no_steps_left")
    assert await _children(turns, turn.session_id) == []
    assert len(slm.requests()) == 2 and turn.messages[-1]["content"] == "On my own."


async def test_a_stop_posted_to_a_subordinate_chat_stops_the_whole_tree_and_each_keeps_its_partial_answer(api, turns, slm) -> None:
    slm.script(_delegating("researcher", "Look it up.", "Asking."), {"chunks": ["Looking", " further"], "hold_after": 1})
    top = (await api.post("/v1/sessions", json={})).json()["id"]
    await api.post(f"/v1/sessions/{top}/messages", json={"content": "Find out."})
    working = asyncio.create_task(turns.work())
    await procs.eventually(lambda: len(slm.requests()) == 2, 10, "the subordinate's request")
    [child] = await _children(turns, uuid.UUID(top))
    child_question = (await turns.messages(uuid.UUID(child["id"])))[0]["id"]

    stop = await api.post(f"/v1/sessions/{child['id']}/stop")

    assert (stop.status_code, stop.json()) == (202, {"stopping": child_question, "removed": [], "detail": f"Stopping the answer to message {child_question}."})
    assert await working == "stopped"
    child_answer = (await turns.messages(uuid.UUID(child["id"])))[-1]
    top_answer = (await turns.messages(uuid.UUID(top)))[-1]
    assert (child_answer["content"], child_answer["stopped"], top_answer["content"], top_answer["stopped"]) == ("Looking", True, "Asking.", True)
    idle = await api.post(f"/v1/sessions/{child['id']}/stop")
    assert (idle.status_code, idle.json()["stopping"]) == (200, None)
    async with turns.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM turn_stops"))).scalar_one() == 0  # the top turn cleared it


async def test_a_subordinate_chat_takes_no_message_regeneration_or_edit_of_its_own(api, turns, slm) -> None:
    slm.script(_delegating("assistant", "Say hi."), {"chunks": ["Hi."]}, {"chunks": ["Done."]})
    top = (await api.post("/v1/sessions", json={})).json()["id"]
    await api.post(f"/v1/sessions/{top}/messages", json={"content": "Greet."})
    assert await turns.work() == "answered"
    [child] = await _children(turns, uuid.UUID(top))
    question = (await turns.messages(uuid.UUID(child["id"])))[0]["id"]

    refused = [
        await api.post(f"/v1/sessions/{child['id']}/messages", json={"content": "Me too."}),
        await api.post(f"/v1/sessions/{child['id']}/regenerate"),
        await api.patch(f"/v1/sessions/{child['id']}/messages/{question}", json={"content": "Say bye."}),
    ]

    message = (
        f"Chat '{child['id']}' was made by a `delegate` call of chat '{top}'. A subordinate agent's chat gets its one question "
        "from its parent's turn, which answers it: it takes no messages, regenerations or edits. Write in its top chat instead."
    )
    assert [(r.status_code, r.json()) for r in refused] == [(409, {"error": {"code": "subordinate_chat", "message": message}})] * 3
    assert len(await turns.messages(uuid.UUID(child["id"]))) == 2
    assert [(lock, status) for _queue, _task, lock, _args, status in await turns.queued_jobs()] == [(f"session:{top}", "succeeded")]
    shown = (await api.get(f"/v1/sessions/{child['id']}")).json()
    assert (shown["parent_session_id"], shown["depth"], shown["profile"]) == (top, 1, "assistant")
    async with turns.engine.connect() as conn:
        owners = (await conn.execute(sa.text("SELECT DISTINCT owner FROM chat_sessions"))).scalars().all()
    assert len(owners) == 1 and owners[0] is not None  # the child's is its parent's
    assert [s["id"] for s in (await api.get("/v1/sessions")).json()["sessions"]] == [top]
