"""The agent's settings reach the next turn: a change applies without restarting anything."""

from __future__ import annotations

from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.conversations.harness import DEFAULT_TEXT, DELEGATE_TOOL, MEMORY_TOOLS, answered_at_once, assistant_message, condensed, user_message


async def test_a_changed_system_prompt_model_and_temperature_reach_the_next_turn(turns, slm) -> None:
    first = await turns.answer("first")
    await turns.change_settings({"system_prompt": "Answer like a pirate.", "slm_model": "other", "temperature": 0.3})
    second = await turns.answer("second", first.session_id)

    question, answer = user_message(first.session_id, 1, "first"), assistant_message(first.user, 2, DEFAULT_TEXT)
    follow_up = user_message(first.session_id, 3, "second")
    pirate = assistant_message(follow_up, 4, DEFAULT_TEXT, model="other")
    assert (first.outcome, second.outcome) == ("answered", "answered")
    assert second.messages == [question, answer, follow_up, pirate]
    assert [r["body"] for r in slm.requests()] == [
        {
            "model": "scripted",
            "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "first"}],
            "stream": True,
            "max_tokens": 512,
            "tools": MEMORY_TOOLS,
        },
        {
            "model": "other",
            "messages": [
                {"role": "system", "content": "Answer like a pirate."},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": DEFAULT_TEXT},
                {"role": "user", "content": "second"},
            ],
            "stream": True,
            "max_tokens": 512,
            "temperature": 0.3,
            "tools": MEMORY_TOOLS,
        },
    ]


async def test_with_memory_disabled_nothing_is_recalled_stored_or_offered(turns, slm) -> None:
    await turns.remember("My sister Alice lives in Lisbon.")
    await turns.change_settings({"memory_enabled": False})

    turn = await turns.answer("Remember that my sister Alice lives in Lisbon.")

    user = user_message(turn.session_id, 1, "Remember that my sister Alice lives in Lisbon.")
    reply = assistant_message(user, 2, DEFAULT_TEXT)  # nothing in memories, remembered or forgotten
    assert (turn.outcome, turn.messages) == ("answered", [user, reply])
    assert condensed(turn.events) == answered_at_once(user, reply)
    [request] = slm.requests()
    assert request["body"] == {
        "model": "scripted",
        "messages": [
            {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
            {"role": "user", "content": "Remember that my sister Alice lives in Lisbon."},
        ],
        "stream": True,
        "max_tokens": 512,
        "tools": [DELEGATE_TOOL],  # no memory tool
    }
    assert await turns.memories() == [(1, "My sister Alice lives in Lisbon.", "user")]
