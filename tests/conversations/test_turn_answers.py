"""A turn run in this process answers a stored message: the reply streams into the event log and is stored once."""

from __future__ import annotations

from soma.memory import tools
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.conversations.harness import DEFAULT_TEXT, answered_at_once, assistant_message, condensed, user_message


async def test_a_sent_message_queues_its_turn_and_the_turn_streams_and_stores_the_reply(turns, slm) -> None:
    turn = await turns.answer("Hi there")

    user = user_message(turn.session_id, 1, "Hi there")
    reply = assistant_message(user, 2, DEFAULT_TEXT)
    assert (turn.outcome, turn.user, turn.messages) == ("answered", user, [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)
    assert [e["id"] for e in turn.events] == list(range(1, len(turn.events) + 1))
    session = str(turn.session_id)
    assert await turns.queued_jobs() == [("turns", "soma.turn", f"session:{session}", {"session_id": session, "message_id": 1}, "todo")]
    [request] = slm.requests()
    assert request["authorization"] == "Bearer test-key"
    assert request["body"] == {
        "model": "scripted",
        "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "Hi there"}],
        "stream": True,
        "max_tokens": 512,
        "tools": tools.DEFINITIONS,
    }


async def test_a_turn_run_again_after_its_reply_is_skipped_and_writes_nothing(turns, slm) -> None:
    turn = await turns.answer("Hi")

    again = await turns.run(turn.user["id"])

    assert again == "skipped"
    assert (await turns.events(turn.session_id), await turns.messages(turn.session_id)) == (turn.events, turn.messages)
    assert len(slm.requests()) == 1
