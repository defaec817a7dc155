"""The event stream: resume without gaps or duplicates, fan-out to every gateway, keep-alives."""

from __future__ import annotations

from tests.procs import has_event, read_events


def test_a_client_that_reconnects_with_last_event_id_gets_every_missed_event_once(stack) -> None:
    stack.slm.script({"chunks": [f"w{i} " for i in range(12)], "delay": 0.15})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Tell me a story")

    first = stack.events(session, has_event("assistant.delta", 3))  # then the connection drops
    resumed = read_events(
        stack.client,
        f"{stack.url}/v1/sessions/{session}/events?after=0",  # Last-Event-ID must win over the URL
        has_event("assistant.message"),
        headers={"Last-Event-ID": str(first[-1]["id"])},
    )

    ids = [e["id"] for e in first + resumed]
    assert ids == list(range(1, len(ids) + 1))
    text = "".join(e["data"]["text"] for e in first + resumed if e["event"] == "assistant.delta")
    assert text == "".join(f"w{i} " for i in range(12))


def test_after_starts_the_stream_after_that_event(stack) -> None:
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hi")
    stack.events(session, has_event("assistant.message"))
    everything = stack.events(session, has_event("assistant.message"))  # stored: its deltas are gone

    tail = stack.events(session, has_event("assistant.message"), after=everything[0]["id"])

    assert [e["event"] for e in everything] == ["message.created", "turn.started", "assistant.message"]
    assert tail == everything[1:]


def test_events_written_through_one_gateway_reach_a_stream_on_another(stack) -> None:
    other_url, _ = stack.gateway()
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hello")

    seen = read_events(stack.client, f"{other_url}/v1/sessions/{session}/events", has_event("assistant.message"))

    assert seen[-1]["data"]["message"]["content"] == "Hello from the scripted SLM."


def test_an_idle_stream_gets_keep_alive_comments(stack) -> None:
    session = stack.new_session()
    lines = []
    with stack.client.stream("GET", f"{stack.url}/v1/sessions/{session}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if line == ": keep-alive":
                break
    assert lines[0] == "retry: 1000"


def test_the_stream_of_an_unknown_session_is_404(stack) -> None:
    response = stack.client.get(f"{stack.url}/v1/sessions/00000000-0000-0000-0000-000000000000/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
