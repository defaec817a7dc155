"""How a turn ends when the SLM refuses, rate-limits, errs, drops or stalls."""

from __future__ import annotations

from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.conversations import harness
from tests.conversations.harness import DEFAULT_TEXT, MEMORY_TOOLS, answered_at_once, assistant_message, condensed, user_message

HI = {
    "model": "scripted",
    "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "Hi"}],
    "stream": True,
    "max_tokens": 512,
    "tools": MEMORY_TOOLS,
}  # the request that asks the SLM to answer "Hi" in a new chat


async def test_a_401_ends_the_turn_at_once_with_slm_auth_and_no_retry(turns, slm) -> None:
    slm.script(default={"key": "the-right-key"})

    turn = await turns.answer("Hi")

    user = user_message(turn.session_id, 1, "Hi")
    body = '{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}'
    failure = (
        f"The SLM answered HTTP 401 ({body!r}) to the key from settings SOMA_SLM_API_KEY. "
        "The SLM API key is missing or was refused. Put a key the SLM accepts where `soma secrets status` says the key "
        "is read from (Vault kv/slm/api-key, SOMA_SLM_API_KEY_FILE or SOMA_SLM_API_KEY), then run `soma slm check`."
    )
    assert (turn.outcome, turn.messages) == ("failed", [user])
    assert condensed(turn.events) == [
        ("message.created", {"message": user}),
        ("turn.started", {"reply_to": 1, "attempt": 1}),
        ("turn.failed", {"reply_to": 1, "reason": "slm_auth", "message": failure}),
    ]
    assert [(r["authorization"], r["body"]) for r in slm.requests()] == [("Bearer test-key", HI)]  # no retry, so no backoff


async def test_a_429_then_a_200_delivers_the_reply(turns, slm) -> None:
    slm.script({"status": 429, "retry_after": 0})

    turn = await turns.answer("Hi")

    user = user_message(turn.session_id, 1, "Hi")
    reply = assistant_message(user, 2, DEFAULT_TEXT)
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)  # once: nothing streamed before the retry
    assert [r["body"] for r in slm.requests()] == [HI, HI]


async def test_a_500_then_a_503_then_a_200_delivers_the_reply(turns, slm) -> None:
    slm.script({"status": 500}, {"status": 503})

    turn = await turns.answer("Hi")

    user = user_message(turn.session_id, 1, "Hi")
    reply = assistant_message(user, 2, DEFAULT_TEXT)
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)
    assert [r["body"] for r in slm.requests()] == [HI, HI, HI]


async def test_a_stream_dropped_mid_answer_is_asked_again_and_the_partial_text_discarded(turns, slm) -> None:
    slm.script({"chunks": ["Partial", " answer", " lost"], "drop_after": 2})

    turn = await turns.answer("Hi")

    user = user_message(turn.session_id, 1, "Hi")
    reply = assistant_message(user, 2, DEFAULT_TEXT)
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == [
        ("message.created", {"message": user}),
        ("turn.started", {"reply_to": 1, "attempt": 1}),
        ("turn.started", {"reply_to": 1, "attempt": 2}),  # clients drop the text so far
        ("assistant.message", {"message": reply}),  # the deltas of both attempts went when it was stored
    ]
    assert [r["body"] for r in slm.requests()] == [HI, HI]


async def test_a_stalled_stream_fails_with_slm_timeout_after_the_attempts(database_url, slm, settings) -> None:
    slm.script(default={"chunks": ["Never", " finished"], "stall_after": 1})

    async with harness.turns(database_url, slm, settings, slm_read_timeout=0.5, slm_max_attempts=2) as turns:
        turn = await turns.answer("Hi")
        stalled = slm.requests()
        slm.reset()
        answered = await turns.answer("again", turn.session_id)

    user = user_message(turn.session_id, 1, "Hi")
    failure = (
        "ReadTimeout after 0.5s. The SLM stopped sending within SOMA_SLM_READ_TIMEOUT seconds. "
        "Check the SLM server's load, or raise that timeout."
    )
    assert (turn.outcome, turn.messages) == ("failed", [user])
    assert condensed(turn.events) == [
        ("message.created", {"message": user}),
        ("turn.started", {"reply_to": 1, "attempt": 1}),
        ("assistant.delta", {"reply_to": 1, "text": "Never"}),  # no answer was stored: the deltas stay
        ("turn.started", {"reply_to": 1, "attempt": 2}),
        ("assistant.delta", {"reply_to": 1, "text": "Never"}),
        ("turn.failed", {"reply_to": 1, "reason": "slm_timeout", "message": failure}),
    ]
    assert [r["body"] for r in stalled] == [HI, HI]
    assert answered.outcome == "answered"
    assert [e["event"] for e in answered.events] == [
        "message.created", "turn.started", "turn.started", "turn.failed",  # the next stored answer took them too
        "message.created", "turn.started", "assistant.message",
    ]  # fmt: skip


async def test_rate_limits_that_never_end_fail_with_slm_rate_limited_and_the_next_message_is_answered(database_url, slm, settings) -> None:
    slm.script(default={"status": 429, "retry_after": 0})

    async with harness.turns(database_url, slm, settings, slm_max_attempts=3) as turns:
        failed = await turns.answer("Hi")
        limited = slm.requests()
        slm.reset()
        answered = await turns.answer("again", failed.session_id)

    first = user_message(failed.session_id, 1, "Hi")
    failure = (
        """HTTP 429 ('{"error":{"message":"scripted 429"}}'). """
        "The SLM kept answering 429 Too Many Requests. Wait, or raise the provider's rate limit."
    )
    assert (failed.outcome, failed.messages) == ("failed", [first])
    assert condensed(failed.events) == [
        ("message.created", {"message": first}),
        ("turn.started", {"reply_to": 1, "attempt": 1}),
        ("turn.failed", {"reply_to": 1, "reason": "slm_rate_limited", "message": failure}),
    ]
    assert [r["body"] for r in limited] == [HI, HI, HI]
    second = user_message(failed.session_id, 2, "again")
    reply = assistant_message(second, 3, DEFAULT_TEXT)
    assert (answered.outcome, answered.messages) == ("answered", [first, second, reply])
    assert condensed(answered.events)[3:] == [
        ("message.created", {"message": second}),
        ("turn.started", {"reply_to": 2, "attempt": 1}),
        ("assistant.message", {"message": reply}),
    ]
    [request] = slm.requests()
    assert request["body"]["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "again"},
    ]
