"""Durable tool steps across processes: a worker killed with SIGKILL mid-turn, and another that resumes after the last finished step."""

from __future__ import annotations

import signal

from tests.procs import has_event, wait_until

FACTS = ["The user's dog is called Rex.", "The user lives in Porto.", "The user plays the cello."]


def test_a_worker_killed_in_step_four_leaves_a_turn_resumed_with_each_remember_run_exactly_once(stack) -> None:
    steps = [{"chunks": [f"Step {n}."], "tool_calls": [{"name": "remember", "arguments": {"content": fact}}]} for n, fact in enumerate(FACTS, 1)]
    held = {"chunks": ["Almost", " done"], "hold_after": 1}  # step 4 streams a word, then waits for the kill
    stack.slm.script(*steps, held, {"chunks": ["All three are noted."]})
    doomed = stack.worker()
    session = stack.new_session()
    stack.send(session, "My dog is Rex, I live in Porto and I play the cello.")
    wait_until(lambda: len(stack.slm.requests()) == 4, 60, "the turn's fourth SLM request")

    doomed.signal(signal.SIGKILL)
    stack.worker()
    events = stack.events(session, has_event("assistant.message"), timeout=90)

    call_ids = [f"m1g1s{step}c0" for step in (1, 2, 3)]
    tool_events = [(e["event"], e["data"]["call_id"]) for e in events if e["event"].startswith("tool.")]
    assert tool_events == [(kind, call_id) for call_id in call_ids for kind in ("tool.started", "tool.finished")]
    answer = "Step 1.\n\nStep 2.\n\nStep 3.\n\nAll three are noted."
    assert events[-1]["data"]["message"]["content"] == answer
    stack.wait_no_job_left()  # a second, late answer would be stored by now
    assert [m["content"] for m in stack.messages(session) if m["role"] == "assistant"] == [answer]
    memories = stack.client.get(f"{stack.url}/v1/memories").json()["memories"]
    assert sorted((m["content"], m["source"]) for m in memories) == sorted((fact, "agent") for fact in FACTS)
    requests = [r["body"] for r in stack.slm.requests()]
    assert len(requests) == 5
    before_kill, after_recovery = requests[3]["messages"], requests[4]["messages"]
    assert after_recovery == before_kill  # the recorded steps, sent as the killed worker sent them
    results = [m for m in after_recovery if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in results] == [
        (call_id, f"Remembered as memory {n}: {fact}") for n, (call_id, fact) in enumerate(zip(call_ids, FACTS, strict=True), 1)
    ]
