"""MCP tool servers in real turns: one that hangs, one that crashes, and a published one, with `soma` processes and the scripted SLM."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests import procs
from tests.tools.servers import start_http, stdio_entry


def _states(stack) -> dict[str, tuple[str, str | None]]:
    """(state, error) of each server, as GET /v1/tools shows them."""
    return {s["name"]: (s["state"], s["error"]) for s in stack.client.get(f"{stack.url}/v1/tools").json()["servers"]}


def _calls(events: list[dict]) -> dict[str, dict]:
    """Each tool.finished event's data by its tool's name."""
    return {e["data"]["name"]: e["data"] for e in events if e["event"] == "tool.finished"}


def test_a_server_that_hangs_times_out_and_one_that_crashes_is_restarted_while_the_turn_answers(stack, tmp_path: Path) -> None:
    starts, down = tmp_path / "starts", tmp_path / "down"
    worker = stack.launch_worker()  # starts while the servers are configured
    slow = start_http(stack.launcher)
    # init_timeout: its restart waits for the test, never long enough to time out and start a fourth time.
    fragile = stdio_entry("--wait-while", str(down), env={"SCRIPTED_STARTS_FILE": str(starts)}, init_timeout=120)
    stack.tool_servers(slow={"url": slow.url, "call_timeout": 1}, fragile=fragile)
    stack.wait_ready(worker)
    stack.wait_connected(worker, "slow", "fragile")
    down.touch()  # from now on a start of the fragile server waits: it is down until the test says otherwise
    calls = [{"name": "slow__sleep", "arguments": {"seconds": 30}}, {"name": "fragile__crash", "arguments": {}}]
    again = [{"name": "fragile__add", "arguments": {"a": 1, "b": 2}}]
    stack.slm.script({"tool_calls": calls}, {"chunks": ["One hung, one crashed."]}, {"tool_calls": again}, {"chunks": ["3."]})
    session = stack.new_session()
    stack.send(session, "Sleep, and crash.")
    events = stack.events(session, procs.has_event("assistant.message"), timeout=60)

    finished = _calls(events)
    hung = "The tool 'sleep' of the server 'slow' did not answer within 1 s (its call_timeout)."
    assert (finished["sleep"]["ok"], finished["sleep"]["error"], finished["sleep"]["result"]) == (False, "timeout", hung)
    crashed = finished["crash"]
    assert (crashed["ok"], crashed["error"]) == (False, "error")
    assert crashed["result"].startswith("The tool 'crash' of the server 'fragile' failed: "), crashed["result"]
    assert events[-1]["data"]["message"]["content"] == "One hung, one crashed."
    results = [m for m in stack.slm.requests()[1]["body"]["messages"] if m["role"] == "tool"]
    assert sorted(m["content"] for m in results) == sorted([hung, crashed["result"]])  # the SLM read both errors

    # While it is down, the crashed server is shown failed with its exit; once it can start, it is connected and used again.
    procs.wait_until(lambda: _states(stack)["fragile"] == ("failed", "it exited with code 3"), 30, "the crash shown")
    assert _states(stack)["slow"] == ("connected", None)  # a call that timed out is not the server's failure
    down.unlink()
    procs.wait_until(lambda: _states(stack)["fragile"] == ("connected", None), 30, "the restarted server shown connected")
    assert len(starts.read_text().split()) == 3  # the gateway's probe, the worker's start, its restart
    stack.send(session, "Add one and two.")
    events = stack.events(session, procs.has_event("assistant.message", 2), timeout=60)
    assert (_calls(events)["add"]["result"], events[-1]["data"]["message"]["content"]) == ("3.0", "3.")
    assert "tool server 'fragile': failed: it exited with code 3" in worker.output()


def test_a_published_mcp_server_answers_a_call_in_a_real_turn_and_the_step_is_recorded(stack) -> None:
    # mcp-server-time (PyPI, the dev extra) over stdio. A stdio server gets no environment of the worker's:
    # the entry hands it this interpreter's import path, as an operator might.
    path = os.pathsep.join(entry for entry in sys.path if entry)
    command = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], "env": {"PYTHONPATH": path}}
    worker = stack.launch_worker()  # starts while the server is configured
    overview = stack.tool_servers(time=command)
    assert sorted(t["name"] for t in overview["tools"] if t["server"] == "time") == ["convert_time", "get_current_time"]
    stack.wait_ready(worker)
    stack.wait_connected(worker, "time")
    arguments = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
    stack.slm.script({"tool_calls": [{"name": "time__convert_time", "arguments": arguments}]}, {"chunks": ["It is 21:00 in Tokyo."]})
    session = stack.new_session()
    sent = stack.send(session, "Noon in UTC is what time in Tokyo?")
    events = stack.events(session, procs.has_event("assistant.message"), timeout=60)

    result = _calls(events)["convert_time"]
    assert (result["call_id"], result["server"], result["ok"], result["error"]) == (f"m{sent['id']}g1s1c0", "time", True, None)
    assert '"timezone": "Asia/Tokyo"' in result["result"] and "T21:00:00+09:00" in result["result"]
    [answer] = [m for m in stack.messages(session) if m["role"] == "assistant"]
    assert answer["content"] == "It is 21:00 in Tokyo."
    [step] = answer["meta"]["steps"]
    assert step == {
        "call_id": result["call_id"], "step": 1, "name": "convert_time", "server": "time", "arguments": arguments,
        "ok": True, "result": result["result"], "error": None, "duration_ms": result["duration_ms"],
    }  # fmt: skip
    offered = [t["function"]["name"] for t in stack.slm.requests()[0]["body"]["tools"]]
    assert {"time__convert_time", "time__get_current_time"} <= set(offered)
    assert [m["content"] for m in stack.slm.requests()[1]["body"]["messages"] if m["role"] == "tool"] == [result["result"]]
