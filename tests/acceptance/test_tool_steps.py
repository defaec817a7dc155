"""Durable tool steps across processes: a worker killed with SIGKILL mid-turn, and another that resumes after the last finished step."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.procs import Proc, has_event, pid_alive, wait_until
from tests.tools.servers import start_http, stdio_entry

FACTS = ["The user's dog is called Rex.", "The user lives in Porto.", "The user plays the cello."]
FAST_RECOVERY = {"worker_drain_seconds": 0.5, "worker_heartbeat_seconds": 0.5}  # a killed worker's turn runs again after 2 s


def _killed_in_step_four(stack, doomed: Proc, session: str, content: str) -> tuple[dict, list[dict]]:
    """Send `content`; SIGKILL `doomed` once the turn's fourth SLM request is held, and let a successor, started meanwhile,
    resume the turn. The message sent, and the chat's events up to the answer."""
    sent = stack.send(session, content)
    wait_until(lambda: stack.slm.requests(), 30, "the doomed worker to take the turn")
    successor = stack.launch_worker(**FAST_RECOVERY)  # starts while the turn runs; the turn is the doomed one's
    wait_until(lambda: len(stack.slm.requests()) == 4, 60, "the turn's fourth SLM request")
    doomed.signal(signal.SIGKILL)
    stack.wait_ready(successor)
    return sent, stack.events(session, has_event("assistant.message"), timeout=90)


def test_a_worker_killed_in_step_four_leaves_a_turn_resumed_with_each_remember_run_exactly_once(stack) -> None:
    steps = [{"chunks": [f"Step {n}."], "tool_calls": [{"name": "remember", "arguments": {"content": fact}}]} for n, fact in enumerate(FACTS, 1)]
    held = {"chunks": ["Almost", " done"], "hold_after": 1}  # step 4 streams a word, then waits for the kill
    stack.slm.script(*steps, held, {"chunks": ["All three are noted."]})
    doomed = stack.worker(**FAST_RECOVERY)
    session = stack.new_session()
    _, events = _killed_in_step_four(stack, doomed, session, "My dog is Rex, I live in Porto and I play the cello.")

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


# Five steps across two MCP servers, each appending a line to its own file: (step, server) of each call.
APPENDS = [(1, "local"), (2, "remote"), (3, "local"), (3, "remote"), (4, "local"), (5, "remote")]


def _append_step(step: int) -> dict:
    calls = [{"name": f"{server}__append", "arguments": {"line": f"step {step}"}} for n, server in APPENDS if n == step]
    return {"chunks": [f"Step {step}."], "tool_calls": calls}


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_worker_killed_after_step_three_of_five_across_two_mcp_servers_leaves_every_append_made_exactly_once(
    stack, tmp_path: Path
) -> None:
    files = {server: tmp_path / f"{server}.txt" for server in ("local", "remote")}
    started = tmp_path / "local-starts"
    doomed = stack.launch_worker(**FAST_RECOVERY)  # starts while the servers are configured
    remote = start_http(stack.launcher, env={"SCRIPTED_APPEND_FILE": str(files["remote"])})
    local = stdio_entry(env={"SCRIPTED_APPEND_FILE": str(files["local"]), "SCRIPTED_STARTS_FILE": str(started)})
    stack.tool_servers(local=local, remote={"url": remote.url})
    held = {"chunks": ["Step", " 4."], "hold_after": 1}  # the fourth request streams a word, then waits for the kill
    stack.slm.script(*(_append_step(n) for n in (1, 2, 3)), held, *(_append_step(n) for n in (4, 5)), {"chunks": ["All six lines are written."]})
    stack.wait_ready(doomed)
    stack.wait_connected(doomed, "local", "remote")
    session = stack.new_session()
    sent, events = _killed_in_step_four(stack, doomed, session, "Write the six lines, over five steps.")

    assert {server: _lines(path) for server, path in files.items()} == {
        "local": ["step 1", "step 3", "step 4"],
        "remote": ["step 2", "step 3", "step 5"],
    }
    call_ids = [f"m{sent['id']}g1s{step}c{index}" for step, index in ((1, 0), (2, 0), (3, 0), (3, 1), (4, 0), (5, 0))]
    finished = [e["data"] for e in events if e["event"] == "tool.finished"]
    assert sorted(d["call_id"] for d in finished) == call_ids  # each once: none run again, none lost
    assert sorted(e["data"]["call_id"] for e in events if e["event"] == "tool.started") == call_ids
    assert {(d["call_id"], d["ok"], d["result"]) for d in finished} == {
        (call_id, True, f"appended 'step {step}'") for call_id, (step, _server) in zip(call_ids, APPENDS, strict=True)
    }
    answer = "Step 1.\n\nStep 2.\n\nStep 3.\n\nStep 4.\n\nStep 5.\n\nAll six lines are written."
    assert [e["data"]["message"]["content"] for e in events if e["event"] == "assistant.message"] == [answer]
    stack.wait_no_job_left()  # a second, late answer would be stored by now
    assert [m["content"] for m in stack.messages(session) if m["role"] == "assistant"] == [answer]
    requests = [r["body"]["messages"] for r in stack.slm.requests()]
    assert len(requests) == 7
    assert requests[4] == requests[3]  # the recorded steps, sent as the killed worker sent them
    # The killed worker's stdio server read a closed stdin and exited; the gateway's probe's ended too.
    wait_until(lambda: [pid_alive(int(pid)) for pid in _lines(started)] == [False, False, True], 30, "only the successor's server left")
