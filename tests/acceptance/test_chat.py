"""A chat through real processes: gateway, worker, scripted SLM."""

from __future__ import annotations

from tests.procs import has_event


def test_a_posted_message_comes_back_as_a_streamed_persisted_reply(stack) -> None:
    stack.worker()
    stack.slm.script({"chunks": ["Hello", " from", " the", " scripted", " SLM."], "delay": 0.2})  # still streaming once the stream is open
    session = stack.new_session()
    user = stack.send(session, "Hi there")

    events = stack.events(session, has_event("assistant.message"))
    replayed = stack.events(session, has_event("assistant.message"))  # after the answer was stored

    kinds = [e["event"] for e in events]
    deltas = len(kinds) - 3  # pieces that arrive while a write commits go out as one delta
    assert kinds == ["message.created", "turn.started"] + ["assistant.delta"] * deltas + ["assistant.message"]
    assert 1 <= deltas <= 5
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert "".join(e["data"]["text"] for e in events if e["event"] == "assistant.delta") == "Hello from the scripted SLM."
    assert replayed == [events[0], events[1], events[-1]]  # the stored answer took its deltas' place
    reply = events[-1]["data"]["message"]
    assert reply["role"] == "assistant" and reply["content"] == "Hello from the scripted SLM."
    assert reply["reply_to"] == user["id"]
    stored = stack.messages(session)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "Hi there"), ("assistant", "Hello from the scripted SLM.")]
    sent = stack.slm.requests()[0]
    assert sent["authorization"] == "Bearer test-key"
    assert sent["body"]["stream"] is True
    assert sent["body"]["messages"][-1] == {"role": "user", "content": "Hi there"}
    assert sent["body"]["messages"][0]["role"] == "system"


def test_a_worker_stops_a_streaming_answer_keeps_it_and_regenerates_it_as_a_new_version(stack) -> None:
    stack.worker()
    stack.slm.script({"chunks": ["Partial", " answer", " never", " sent"], "stall_after": 2}, {"chunks": ["Second", " try"]})
    session = stack.new_session()
    user = stack.send(session, "Tell me everything")
    streaming = stack.events(session, has_event("assistant.delta"))

    stop = stack.client.post(f"{stack.url}/v1/sessions/{session}/stop")
    [*_, stored] = stack.events(session, has_event("assistant.message"), after=streaming[-1]["id"], timeout=5)
    again = stack.client.post(f"{stack.url}/v1/sessions/{session}/regenerate")
    regenerated = stack.events(session, has_event("assistant.message"), after=stored["id"], timeout=10)
    stopped = stored["data"]["message"]

    assert (stop.status_code, stop.json()["stopping"]) == (202, user["id"])
    assert (stopped["content"], stopped["stopped"]) == ("Partial answer", True)
    assert (again.status_code, again.json()) == (202, {"reply_to": user["id"], "generation": 2})
    answer = regenerated[-1]["data"]["message"]
    assert (answer["id"], answer["content"], answer["stopped"]) == (stopped["id"], "Second try", False)
    assert [(v["content"], v["meta"]["stopped"]) for v in answer["versions"]] == [("Partial answer", True)]
