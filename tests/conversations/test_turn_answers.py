"""A turn run in this process answers a stored message: the reply streams into the event log and is stored once."""

from __future__ import annotations

from soma.conversations import events
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.conversations.harness import DEFAULT_TEXT, MEMORY_TOOLS, answered_at_once, assistant_message, condensed, user_message


async def test_a_sent_message_queues_its_turn_and_the_turn_streams_and_stores_the_reply(turns, slm) -> None:
    turn = await turns.answer("Hi there")

    user = user_message(turn.session_id, 1, "Hi there")
    reply = assistant_message(user, 2, DEFAULT_TEXT)
    assert (turn.outcome, turn.user, turn.messages) == ("answered", user, [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)
    assert [e["id"] for e in turn.events][:2] == [1, 2] and turn.events[2]["id"] > 3  # deltas had the ids between
    session = str(turn.session_id)
    assert await turns.queued_jobs() == [("turns", "soma.turn", f"session:{session}", {"session_id": session, "message_id": 1}, "todo")]
    [request] = slm.requests()
    assert request["authorization"] == "Bearer test-key"
    assert request["body"] == {
        "model": "scripted",
        "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "Hi there"}],
        "stream": True,
        "max_tokens": 512,
        "tools": MEMORY_TOOLS,
    }


async def test_a_turn_run_again_after_its_reply_is_skipped_and_writes_nothing(turns, slm) -> None:
    turn = await turns.answer("Hi")

    again = await turns.run(turn.user["id"])

    assert again == "skipped"
    assert (await turns.events(turn.session_id), await turns.messages(turn.session_id)) == (turn.events, turn.messages)
    assert len(slm.requests()) == 1


async def test_a_stored_answer_replaces_its_deltas_and_a_client_resuming_mid_answer_gets_the_answer(turns, slm) -> None:
    slm.script({"chunks": [f"piece {n} " for n in range(40)]})

    turn = await turns.answer("Tell me a long story")

    [created, started, stored] = turn.events
    assert [e["event"] for e in turn.events] == ["message.created", "turn.started", "assistant.message"]
    assert stored["data"]["message"]["content"] == "".join(f"piece {n} " for n in range(40))
    deltas = range(started["id"] + 1, stored["id"])  # the ids the streamed pieces had
    assert len(deltas) >= 1
    async with turns.engine.connect() as conn:
        for seen in (deltas[0], deltas[len(deltas) // 2], deltas[-1]):  # what a client that dropped mid-answer saw last
            assert [(e.id, e.type) for e in await events.after(conn, turn.session_id, seen)] == [(stored["id"], "assistant.message")]
