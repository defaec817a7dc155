"""The agent loop: steps of tool calls recorded as they start and end, run together, their results read by the SLM, and always an answer."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from soma.conversations import export
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests import procs
from tests.conversations import probes
from tests.conversations.harness import (
    DEFAULT_TEXT, MEMORY_TOOLS, MILLISECONDS, assistant_message, condensed, user_message,
)  # fmt: skip

SYSTEM = {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}


def _call(call_id: str, name: str, arguments: dict | str) -> dict:
    """A call as the assistant message sent back to the SLM carries it: under Soma's id."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def _started(call_id: str, name: str, server: str, arguments: dict | str, step: int, index: int = 0, *, repeatable: bool = False, **extra) -> tuple:
    about = {"call_id": call_id, "name": name, "server": server, "reply_to": 1, "generation": 1, "step": step, "index": index}
    return ("tool.started", about | {"arguments": arguments, "repeatable": repeatable} | extra)


def _finished(call_id: str, name: str, server: str, result: str, step: int, index: int = 0, *, ok: bool = True, error: str | None = None, **extra) -> tuple:
    about = {"call_id": call_id, "name": name, "server": server, "reply_to": 1, "generation": 1, "step": step, "index": index}
    return ("tool.finished", about | {"ok": ok, "result": result, "error": error, "duration_ms": MILLISECONDS} | extra)


def _tool_events(events: list[dict]) -> list[tuple]:
    return [(kind, data) for kind, data in condensed(events) if kind.startswith("tool.")]


async def test_a_remember_call_is_recorded_as_it_starts_and_ends_and_the_slm_reads_its_result(turns, slm) -> None:
    arguments = {"content": "The user's dog is called Rex."}
    slm.script({"chunks": ["Noting that."], "tool_calls": [{"name": "remember", "arguments": arguments}]})

    turn = await turns.answer("My dog is called Rex.")

    user = user_message(turn.session_id, 1, "My dog is called Rex.")
    result = "Remembered as memory 1: The user's dog is called Rex."
    step = {"call_id": "m1g1s1c0", "step": 1, "name": "remember", "server": "soma", "arguments": arguments,
            "ok": True, "result": result, "error": None, "duration_ms": MILLISECONDS}  # fmt: skip
    reply = assistant_message(user, 2, f"Noting that.\n\n{DEFAULT_TEXT}", remembered=[1], steps=[step])
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert [kind for kind, _ in condensed(turn.events)] == [
        "message.created", "turn.started", "tool.started", "tool.finished", "assistant.message",
    ]  # fmt: skip (the deltas went with the stored answer)
    assert _tool_events(turn.events) == [
        _started("m1g1s1c0", "remember", "soma", arguments, 1, repeatable=True, text="Noting that."),
        _finished("m1g1s1c0", "remember", "soma", result, 1, details={"remembered": 1}),
    ]
    assert await turns.memories() == [(1, "The user's dog is called Rex.", "agent")]
    first, second = (r["body"] for r in slm.requests())
    assert first["tools"] == second["tools"] == MEMORY_TOOLS
    assert second["messages"] == [
        SYSTEM,
        {"role": "user", "content": "My dog is called Rex."},
        {"role": "assistant", "content": "Noting that.", "tool_calls": [_call("m1g1s1c0", "remember", arguments)]},
        {"role": "tool", "tool_call_id": "m1g1s1c0", "content": result},
    ]


async def test_a_turn_works_five_steps_across_two_servers_and_answers(turns, slm) -> None:
    files, clock = probes.Probe("read", "files"), probes.Probe("now", "clock")
    turns.tools = probes.Source(files, clock)
    plan = [("files__read", 1), ("clock__now", 2), ("files__read", 3), ("clock__now", 4)]
    slm.script(*({"tool_calls": [{"name": name, "arguments": {"n": n}}]} for name, n in plan), {"chunks": ["All done."]})

    turn = await turns.answer("Work it out.")

    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", "All done.")
    assert (files.runs, clock.runs) == ([{"n": 1}, {"n": 3}], [{"n": 2}, {"n": 4}])
    requests = [r["body"] for r in slm.requests()]
    assert len(requests) == 5 and all(len(body["tools"]) == 5 for body in requests)  # remember, forget, delegate, files__read, clock__now
    expected = [SYSTEM, {"role": "user", "content": "Work it out."}]
    for step, (name, n) in enumerate(plan, 1):
        call_id = f"m1g1s{step}c0"
        expected += [
            {"role": "assistant", "content": "", "tool_calls": [_call(call_id, name, {"n": n})]},
            {"role": "tool", "tool_call_id": call_id, "content": f"{name.split('__')[1]} did {n}"},
        ]
    assert requests[4]["messages"] == expected
    assert [(kind, data["call_id"]) for kind, data in _tool_events(turn.events)] == [
        (kind, f"m1g1s{step}c0") for step in range(1, 5) for kind in ("tool.started", "tool.finished")
    ]
    assert [s["call_id"] for s in turn.messages[-1]["meta"]["steps"]] == [f"m1g1s{step}c0" for step in range(1, 5)]


async def test_the_calls_of_one_answer_run_together_four_at_a_time(turns, slm) -> None:
    slow = probes.Probe("slow", hold=True)
    turns.tools = probes.Source(slow)
    slm.script({"tool_calls": [{"name": "probe__slow", "arguments": {"n": n}} for n in range(6)]})
    session_id = await turns.new_session()
    user = await turns.send(session_id, "Do six things.")
    running = asyncio.create_task(turns.run(user["id"]))

    await procs.eventually(lambda: slow.in_flight == 4, 10, "four calls to run at once")
    recorded = [kind for kind, _ in _tool_events(await turns.events(session_id))]
    slow.release.set()
    outcome = await running

    assert recorded == ["tool.started"] * 6  # every call of the step is recorded before any runs
    assert (outcome, slow.most_in_flight, sorted(r["n"] for r in slow.runs)) == ("answered", 4, list(range(6)))
    second = slm.requests()[1]["body"]["messages"]
    assert [m["tool_call_id"] for m in second[3:]] == [f"m1g1s1c{i}" for i in range(6)]
    assert [m["content"] for m in second[3:]] == [f"slow did {n}" for n in range(6)]


async def test_the_last_step_offers_no_tools_so_a_turn_of_an_slm_that_always_calls_ends_with_an_answer(turns, slm) -> None:
    await turns.change_settings({"max_tool_steps": 4})
    turns.tools = probes.Source(probes.Probe("again"))
    slm.script(default={"chunks": ["Once more."], "tool_calls": [{"name": "probe__again", "arguments": {}}]})

    turn = await turns.answer("Loop forever.")

    requests = [r["body"] for r in slm.requests()]
    assert ["tools" in body for body in requests] == [True, True, True, False]
    assert turn.outcome == "answered"
    assert turn.messages[-1]["content"] == "\n\n".join(["Once more."] * 4)
    assert [data["call_id"] for kind, data in _tool_events(turn.events) if kind == "tool.finished"] == ["m1g1s1c0", "m1g1s2c0", "m1g1s3c0"]


async def test_a_failing_tool_an_unknown_tool_and_bad_arguments_are_results_the_slm_reads(turns, slm) -> None:
    turns.tools = probes.Source(probes.Probe("broken", fails="disk on fire"))
    slm.script({"tool_calls": [
        {"name": "probe__broken", "arguments": {}},
        {"name": "search_web", "arguments": {"q": "x"}},
        {"name": "remember", "arguments": '{"content": "unfinished'},
    ]})  # fmt: skip

    turn = await turns.answer("Try things.")

    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", DEFAULT_TEXT)
    failed = "The tool failed: RuntimeError: disk on fire"
    unknown = "There is no tool named 'search_web' now; the tools are: remember, forget, delegate, probe__broken."
    invalid = "The arguments '{\"content\": \"unfinished' are not a JSON object. Send the arguments as a JSON object."
    assert [m["content"] for m in slm.requests()[1]["body"]["messages"][3:]] == [failed, unknown, invalid]
    finished = [(d["name"], d["server"], d["ok"], d["error"]) for kind, d in _tool_events(turn.events) if kind == "tool.finished"]
    assert finished == [("broken", "probe", False, "failed"), ("search_web", None, False, "unknown_tool"), ("remember", "soma", False, "invalid_arguments")]


@pytest.mark.parametrize("choice", [{"tool_call_format": "off"}, {"tools_enabled": False}])
async def test_with_tools_off_no_tool_is_offered(turns, slm, choice) -> None:
    await turns.change_settings(choice)
    turns.tools = probes.Source(probes.Probe("unused"))

    turn = await turns.answer("Hi")

    assert turn.outcome == "answered"
    [request] = slm.requests()
    assert "tools" not in request["body"] and "response_format" not in request["body"]


async def test_a_stop_cancels_the_calls_in_flight_and_records_them_stopped(api, turns, slm) -> None:
    slow = probes.Probe("slow", hold=True)
    turns.tools = probes.Source(slow)
    slm.script({"chunks": ["Working on it."], "tool_calls": [{"name": "probe__slow", "arguments": {"n": n}} for n in range(2)]})
    session_id = (await api.post("/v1/sessions", json={})).json()["id"]
    await api.post(f"/v1/sessions/{session_id}/messages", json={"content": "Take your time."})
    working = asyncio.create_task(turns.work())
    await procs.eventually(lambda: slow.in_flight == 2, 10, "both calls to run")

    stop = await api.post(f"/v1/sessions/{session_id}/stop")

    assert (stop.status_code, await working) == (202, "stopped")
    assert (slow.cancelled, slow.in_flight) == (2, 0)
    finished = [(d["call_id"], d["ok"], d["error"]) for kind, d in _tool_events(await turns.events(session_id)) if kind == "tool.finished"]
    assert finished == [("m1g1s1c0", False, "stopped"), ("m1g1s1c1", False, "stopped")]
    [_, answer] = (await api.get(f"/v1/sessions/{session_id}/messages")).json()["messages"]
    assert (answer["content"], answer["stopped"], [s["error"] for s in answer["meta"]["steps"]]) == ("Working on it.", True, ["stopped"] * 2)
    assert len(slm.requests()) == 1


async def test_an_slm_that_refuses_tools_with_400_is_asked_again_without_them(turns, slm) -> None:
    slm.script({"status": 400})

    turn = await turns.answer("Hi")

    user = user_message(turn.session_id, 1, "Hi")
    assert (turn.outcome, turn.messages) == ("answered", [user, assistant_message(user, 2, DEFAULT_TEXT)])
    first, second = (r["body"] for r in slm.requests())
    assert first["tools"] == MEMORY_TOOLS and "tools" not in second
    assert first["messages"] == second["messages"] == [SYSTEM, {"role": "user", "content": "Hi"}]


async def test_an_admins_choices_leave_disabled_tools_out(turns, slm) -> None:
    turns.tools = probes.Source(probes.Probe("kept"), probes.Probe("dropped"))
    await turns.choose_tool("soma", "forget", enabled=False)
    await turns.choose_tool("probe", "dropped", enabled=False)

    await turns.answer("Hi")

    [request] = slm.requests()
    assert [t["function"]["name"] for t in request["body"]["tools"]] == ["remember", "delegate", "probe__kept"]


async def test_a_turn_cut_off_mid_step_resumes_without_running_a_finished_or_unrepeatable_call_again(turns, slm) -> None:
    once, again, stuck = probes.Probe("once"), probes.Probe("again", repeatable=True, hold=True), probes.Probe("stuck", hold=True)
    turns.tools = probes.Source(once, again, stuck)
    calls = [{"name": f"probe__{name}", "arguments": {"n": n}} for n, name in enumerate(("once", "again", "stuck"))]
    slm.script({"tool_calls": calls}, {"chunks": ["Resumed."]})
    session_id = await turns.new_session()
    user = await turns.send(session_id, "Do three things.")
    cut = asyncio.create_task(turns.run(user["id"]))

    async def hanging() -> bool:
        finished = [d["call_id"] for kind, d in _tool_events(await turns.events(session_id)) if kind == "tool.finished"]
        return finished == ["m1g1s1c0"] and again.in_flight == stuck.in_flight == 1

    await procs.eventually(hanging, 10, "one call to finish and two to hang")

    cut.cancel()  # as a worker's drain cancels a turn past its deadline; the queue runs it again
    await asyncio.gather(cut, return_exceptions=True)
    again.release.set()
    outcome = await turns.run(user["id"])

    assert outcome == "answered"
    assert (once.runs, again.runs, stuck.runs) == ([{"n": 0}], [{"n": 1}, {"n": 1}], [{"n": 2}])
    interrupted = "The worker running this call stopped before it finished; it may or may not have taken effect, and was not run again."
    assert [m["content"] for m in slm.requests()[1]["body"]["messages"][3:]] == ["once did 0", "again did 1", interrupted]
    log = _tool_events(await turns.events(session_id))
    assert [(kind, data["call_id"]) for kind, data in log[:4]] == [
        ("tool.started", "m1g1s1c0"), ("tool.started", "m1g1s1c1"), ("tool.started", "m1g1s1c2"), ("tool.finished", "m1g1s1c0"),
    ]  # fmt: skip
    resumed = sorted((kind, data["call_id"], data["ok"], data["error"]) for kind, data in log[4:])  # they end in either order
    assert resumed == [("tool.finished", "m1g1s1c1", True, None), ("tool.finished", "m1g1s1c2", False, "interrupted")]
    assert len(slm.requests()) == 2  # the step the first run asked for is not asked again


async def test_the_exported_chat_shows_each_step_before_its_answer(turns, slm) -> None:
    turns.tools = probes.Source(probes.Probe("read", "files"), probes.Probe("broken", fails="disk on fire"))
    slm.script({"tool_calls": [{"name": "files__read", "arguments": {"n": 7}}, {"name": "probe__broken", "arguments": {}}]})
    turn = await turns.answer("Read file 7.")

    async with turns.engine.connect() as conn:
        chat = await export.as_json(conn, turn.session_id)
    text = export.markdown(chat)

    assert chat["messages"][1]["meta"]["steps"] == turn.messages[1]["meta"]["steps"]
    assert [(s["name"], s["server"], s["ok"]) for s in chat["messages"][1]["steps"]] == [("read", "files", True), ("broken", "probe", False)]
    assert re.search(r"\*\*Step 1: read\*\* \(files\) · ok · \d+ ms", text), text
    assert re.search(r"\*\*Step 2: broken\*\* \(probe\) · failed · \d+ ms", text), text
    assert "The tool failed: RuntimeError: disk on fire" in text
    assert text.index("**Step 2: broken**") < text.index(DEFAULT_TEXT)  # the steps come before the answer
