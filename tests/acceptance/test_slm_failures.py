"""How a turn ends when the SLM refuses, rate-limits, errs, drops or stalls."""

from __future__ import annotations

import time

from tests.procs import has_event

DEFAULT_TEXT = "Hello from the scripted SLM."


def _outcome(stack, session: str) -> list[dict]:
    return stack.events(session, lambda es: any(e["event"] in ("assistant.message", "turn.failed") for e in es))


def test_a_401_ends_the_turn_at_once_with_slm_auth_and_no_retry(stack) -> None:
    stack.slm.script(default={"key": "the-right-key"})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hi")
    started = time.monotonic()

    events = _outcome(stack, session)

    failed = events[-1]
    assert failed["event"] == "turn.failed"
    assert failed["data"]["reason"] == "slm_auth"
    assert "SOMA_SLM_API_KEY" in failed["data"]["message"]
    assert time.monotonic() - started < 10
    assert len(stack.slm.requests()) == 1
    assert [m["role"] for m in stack.messages(session)] == ["user"]


def test_a_429_then_a_200_delivers_the_reply(stack) -> None:
    stack.slm.script({"status": 429, "retry_after": 0})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hi")

    events = _outcome(stack, session)

    assert events[-1]["event"] == "assistant.message"
    assert events[-1]["data"]["message"]["content"] == DEFAULT_TEXT
    assert len(stack.slm.requests()) == 2
    assert sum(e["event"] == "turn.started" for e in events) == 1  # nothing streamed before the retry


def test_a_500_then_a_200_delivers_the_reply(stack) -> None:
    stack.slm.script({"status": 500}, {"status": 503})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hi")

    assert _outcome(stack, session)[-1]["data"]["message"]["content"] == DEFAULT_TEXT
    assert len(stack.slm.requests()) == 3


def test_a_stream_dropped_mid_answer_is_asked_again_and_the_partial_text_discarded(stack) -> None:
    stack.slm.script({"chunks": ["Partial", " answer", " lost"], "drop_after": 2})
    stack.worker()
    session = stack.new_session()
    stack.send(session, "Hi")

    events = _outcome(stack, session)

    starts = [e["data"]["attempt"] for e in events if e["event"] == "turn.started"]
    assert starts == [1, 2]
    after_restart = events[[e["event"] for e in events].index("turn.started", 2) :]
    assert "".join(e["data"]["text"] for e in after_restart if e["event"] == "assistant.delta") == DEFAULT_TEXT
    assert events[-1]["data"]["message"]["content"] == DEFAULT_TEXT


def test_a_stalled_stream_fails_with_slm_timeout_after_the_attempts(stack) -> None:
    stack.slm.script(default={"chunks": ["Never", " finished"], "stall_after": 1})
    stack.worker(slm_read_timeout=1, slm_max_attempts=2)
    session = stack.new_session()
    stack.send(session, "Hi")

    failed = _outcome(stack, session)[-1]

    assert failed["event"] == "turn.failed"
    assert failed["data"]["reason"] == "slm_timeout"
    assert len(stack.slm.requests()) == 2


def test_rate_limits_that_never_end_fail_with_slm_rate_limited(stack) -> None:
    stack.slm.script(default={"status": 429, "retry_after": 0})
    stack.worker(slm_max_attempts=3)
    session = stack.new_session()
    stack.send(session, "Hi")

    failed = _outcome(stack, session)[-1]

    assert (failed["event"], failed["data"]["reason"]) == ("turn.failed", "slm_rate_limited")
    assert len(stack.slm.requests()) == 3
    stack.slm.reset()
    stack.send(session, "again")
    assert stack.events(session, has_event("assistant.message"))[-1]["data"]["message"]["content"] == DEFAULT_TEXT
