"""Worker crashes and shutdowns: every turn answered exactly once, in order."""

from __future__ import annotations

import signal

from tests.procs import has_event, wait_until

SLOW = {"chunks": [f"t{i} " for i in range(20)], "delay": 0.25}
SLOW_TEXT = "".join(f"t{i} " for i in range(20))


def test_a_worker_killed_mid_turn_leaves_a_turn_another_worker_answers_exactly_once(stack) -> None:
    stack.slm.script(SLOW, SLOW)
    doomed = stack.worker()
    session = stack.new_session()
    stack.send(session, "Long answer please")
    stack.events(session, has_event("assistant.delta", 2))

    doomed.signal(signal.SIGKILL)
    stack.worker()
    events = stack.events(session, has_event("assistant.message"), timeout=60)

    assert events[-1]["data"]["message"]["content"] == SLOW_TEXT
    stack.wait_no_job_left()  # a second, late answer would be stored by now
    assistants = [m for m in stack.messages(session) if m["role"] == "assistant"]
    assert [m["content"] for m in assistants] == [SLOW_TEXT]
    starts = [e for e in stack.events(session, has_event("assistant.message")) if e["event"] == "turn.started"]
    assert len(starts) == 2


def test_a_session_killed_mid_turn_still_answers_its_next_message(stack) -> None:
    stack.slm.script(SLOW, {"chunks": ["first answer"]}, {"chunks": ["second answer"]})
    doomed = stack.worker()
    session = stack.new_session()
    first = stack.send(session, "first")
    stack.events(session, has_event("assistant.delta", 1))
    second = stack.send(session, "second")

    doomed.signal(signal.SIGKILL)
    stack.worker()
    stack.events(session, has_event("assistant.message", 2), timeout=60)

    contents = [(m["role"], m["content"], m["reply_to"]) for m in stack.messages(session)]
    assert contents == [
        ("user", "first", None),
        ("user", "second", None),
        ("assistant", "first answer", first["id"]),
        ("assistant", "second answer", second["id"]),
    ]


def test_sigterm_lets_the_running_turn_finish_then_the_worker_exits_0(stack) -> None:
    stack.slm.script(SLOW)
    worker = stack.worker(worker_drain_seconds=30)
    session = stack.new_session()
    stack.send(session, "Long answer please")
    stack.events(session, has_event("assistant.delta", 1))

    worker.signal(signal.SIGTERM)

    assert worker.wait(30) == 0
    assistants = [m["content"] for m in stack.messages(session) if m["role"] == "assistant"]
    assert assistants == [SLOW_TEXT]


def test_two_turns_posted_quickly_to_one_session_run_in_order(stack) -> None:
    stack.slm.script({"chunks": ["one"], "delay": 0.5}, {"chunks": ["two"]})
    stack.worker(worker_concurrency=4)
    session = stack.new_session()
    first = stack.send(session, "first")
    second = stack.send(session, "second")

    events = stack.events(session, has_event("assistant.message", 2))

    order = [_about(e) for e in events if e["event"] != "assistant.delta"]
    f, s = first["id"], second["id"]
    # The first turn may start before the second message is posted (a quick worker) or after; the
    # second starts only after the first answer, and each turn after its own message.
    assert [item for item in order if item[0] != "message.created"] == [
        ("turn.started", f), ("assistant.message", f), ("turn.started", s), ("assistant.message", s),
    ]
    assert order.index(("message.created", f)) < order.index(("message.created", s)) < order.index(("turn.started", s))
    assert order.index(("message.created", f)) < order.index(("turn.started", f))
    second_prompt = stack.slm.requests()[1]["body"]["messages"]
    assert [(m["role"], m["content"]) for m in second_prompt[1:]] == [
        ("user", "first"),
        ("assistant", "one"),
        ("user", "second"),
    ]
    wait_until(lambda: len(stack.messages(session)) == 4, 5, "both answers stored")


def _about(event: dict) -> tuple[str, int]:
    """An event's type and the user message it is about."""
    data = event["data"]
    if event["event"] == "message.created":
        return event["event"], data["message"]["id"]
    if event["event"] == "assistant.message":
        return event["event"], data["message"]["reply_to"]
    return event["event"], data.get("reply_to")
