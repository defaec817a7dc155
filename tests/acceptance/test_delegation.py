"""Delegation across real processes: two levels of subordinates in a worker, a stop on the parent, and a worker killed mid-delegation."""

from __future__ import annotations

import signal

from tests.procs import has_event, wait_until

FAST_RECOVERY = {"worker_drain_seconds": 0.5, "worker_heartbeat_seconds": 0.5}  # a killed worker's turn runs again after 2 s


def _delegating(profile: str, task: str, text: str) -> dict:
    """A scripted SLM step that writes `text` and delegates `task` to `profile`."""
    return {"chunks": [text], "tool_calls": [{"name": "delegate", "arguments": {"profile": profile, "task": task}}]}


def _child(stack, session: str, count: int = 1) -> str:
    """The chat of the `count`-th delegation of `session`, read from its delegate.started."""
    events = stack.events(session, has_event("delegate.started", count))
    return [e["data"]["session_id"] for e in events if e["event"] == "delegate.started"][count - 1]


def _kinds(events: list[dict]) -> list[str]:
    return [e["event"] for e in events if e["event"] != "assistant.delta"]


def _requests_per_chat(stack) -> dict[str, int]:
    """How many SLM requests each chat made, by its question (the first user message every request carries)."""
    counted: dict[str, int] = {}
    for request in stack.slm.requests():
        question = request["body"]["messages"][1]["content"]
        counted[question] = counted.get(question, 0) + 1
    return counted


def test_a_delegation_two_levels_deep_streams_each_chat_and_the_answers_flow_back(stack) -> None:
    stack.slm.script(
        _delegating("researcher", "Find the leave policy.", "Asking the researcher."),
        _delegating("coder", "Count the leave days in policy.txt.", "Asking the coder."),
        {"chunks": ["25 days."]},
        {"chunks": ["The policy grants 25 days."]},
        {"chunks": ["You get 25 days of leave."]},
    )
    stack.worker()
    top = stack.new_session()
    stack.send(top, "How much leave do I get?")

    top_events = stack.events(top, has_event("assistant.message"))
    child = _child(stack, top)
    grandchild = _child(stack, child)
    child_events = stack.events(child, has_event("assistant.message"))
    grandchild_events = stack.events(grandchild, has_event("assistant.message"))

    delegating = ["message.created", "turn.started", "tool.started", "delegate.started", "delegate.finished", "tool.finished", "assistant.message"]
    assert _kinds(top_events) == _kinds(child_events) == delegating
    assert _kinds(grandchild_events) == ["message.created", "turn.started", "assistant.message"]
    for events, below, profile, answer in ((top_events, child, "researcher", "Asking the researcher.\n\nThe policy grants 25 days."),
                                           (child_events, grandchild, "coder", "Asking the coder.\n\n25 days.")):  # fmt: skip
        [started] = [e["data"] for e in events if e["event"] == "delegate.started"]
        [finished] = [e["data"] for e in events if e["event"] == "delegate.finished"]
        [result] = [e["data"] for e in events if e["event"] == "tool.finished"]
        assert started == {"call_id": result["call_id"], "profile": profile, "session_id": below}
        assert finished == {"call_id": result["call_id"], "session_id": below, "ok": True}
        assert (result["ok"], result["details"]) == (True, {"session_id": below, "profile": profile, "ok": True})
        assert result["result"] == stack.messages(below)[-1]["content"]
    assert top_events[-1]["data"]["message"]["content"] == "Asking the researcher.\n\nYou get 25 days of leave."
    assert child_events[-1]["data"]["message"]["content"] == "Asking the coder.\n\nThe policy grants 25 days."
    shown = stack.client.get(f"{stack.url}/v1/sessions/{grandchild}").json()
    assert (shown["parent_session_id"], shown["depth"], shown["profile"], shown["title"]) == (child, 2, "coder", "Count the leave days in policy.txt.")
    assert [s["id"] for s in stack.client.get(f"{stack.url}/v1/sessions").json()["sessions"]] == [top]  # children hang under their parent's steps
    stack.wait_no_job_left()
    assert stack.client.delete(f"{stack.url}/v1/sessions/{top}").status_code == 204
    assert [stack.client.get(f"{stack.url}/v1/sessions/{chat}").status_code for chat in (child, grandchild)] == [404, 404]


def test_a_stop_on_the_parent_ends_both_subordinates_each_keeping_its_partial_answer(stack) -> None:
    stack.slm.script(
        _delegating("researcher", "Research the history of Porto.", "Delegating."),
        _delegating("researcher", "Read about the Douro.", "Reading first."),
        {"chunks": ["The Douro", " rises in Spain"], "hold_after": 1},  # the grandchild streams, then waits for the stop
    )
    stack.worker()
    top = stack.new_session()
    stack.send(top, "Tell me about Porto.")
    grandchild = _child(stack, _child(stack, top))
    stack.events(grandchild, has_event("assistant.delta"))

    response = stack.client.post(f"{stack.url}/v1/sessions/{top}/stop")

    assert response.status_code == 202, response.text
    child = _child(stack, top)
    answers = {chat: stack.events(chat, has_event("assistant.message"))[-1]["data"]["message"] for chat in (top, child, grandchild)}
    assert {chat: (m["content"], m["stopped"]) for chat, m in answers.items()} == {
        top: ("Delegating.", True), child: ("Reading first.", True), grandchild: ("The Douro", True),
    }
    for parent, below in ((top, child), (child, grandchild)):
        events = stack.events(parent, has_event("assistant.message"))
        assert [e["data"] for e in events if e["event"] == "delegate.finished"][-1]["ok"] is False
        [finished] = [e["data"] for e in events if e["event"] == "tool.finished"]
        assert (finished["ok"], finished["error"]) == (False, "stopped")
    stack.wait_no_job_left()
    assert len(stack.slm.requests()) == 3  # nothing asked after the stop


def test_a_worker_killed_while_a_subordinate_runs_leaves_each_finished_delegation_run_exactly_once(stack) -> None:
    stack.slm.script(
        _delegating("assistant", "Task one.", "First."),
        {"chunks": ["One done."]},
        _delegating("researcher", "Task two.", "Second."),
        _delegating("coder", "Task three.", "Within two."),
        {"chunks": ["Three done."]},
        {"chunks": ["Two", " done"], "hold_after": 1},  # the second child's last step streams a word, then waits for the kill
        {"chunks": ["Two done."]},
        {"chunks": ["All done."]},
    )
    doomed = stack.worker(**FAST_RECOVERY)
    top = stack.new_session()
    stack.send(top, "Do the three tasks.")
    second = _child(stack, top, 2)
    wait_until(lambda: len(stack.slm.requests()) == 6, 60, "the second child's held last step")
    successor = stack.launch_worker(**FAST_RECOVERY)  # starts while the turn runs; the turn is the doomed one's
    doomed.signal(signal.SIGKILL)
    stack.wait_ready(successor)

    top_events = stack.events(top, has_event("assistant.message"), timeout=90)

    assert top_events[-1]["data"]["message"]["content"] == "First.\n\nSecond.\n\nAll done."
    stack.wait_no_job_left()  # a repeated delegation would have asked the SLM by now
    assert _requests_per_chat(stack) == {"Do the three tasks.": 3, "Task one.": 1, "Task two.": 3, "Task three.": 1}
    requests = [r["body"]["messages"] for r in stack.slm.requests()]
    assert requests[6] == requests[5]  # the second child resumed after its finished delegation, as it was
    results = [(e["data"]["call_id"], e["data"]["result"]) for e in top_events if e["event"] == "tool.finished"]
    assert results == [("m1g1s1c0", "One done."), ("m1g1s2c0", "Within two.\n\nTwo done.")]
    third = _child(stack, second)
    assert [m["content"] for m in stack.messages(third) if m["role"] == "assistant"] == ["Three done."]
    assert [m["content"] for m in stack.messages(second) if m["role"] == "assistant"] == ["Within two.\n\nTwo done."]
