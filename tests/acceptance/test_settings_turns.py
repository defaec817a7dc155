"""A settings change applies from the next turn, without a restart."""

from __future__ import annotations

from tests.procs import has_event


def test_a_changed_system_prompt_model_and_temperature_reach_the_next_turn(stack) -> None:
    stack.worker()
    session = stack.new_session()
    stack.send(session, "first")
    stack.events(session, has_event("assistant.message"))

    changed = stack.client.put(
        f"{stack.url}/v1/settings", json={"system_prompt": "Answer like a pirate.", "slm_model": "other", "temperature": 0.3}
    )
    assert changed.status_code == 200
    stack.send(session, "second")
    stack.events(session, has_event("assistant.message", 2))

    first, second = (r["body"] for r in stack.slm.requests())
    assert first["messages"][0] == {"role": "system", "content": "You are Soma, a helpful assistant. Answer clearly and concisely."}
    assert (first["model"], "temperature" in first) == ("scripted", False)
    assert second["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert (second["model"], second["temperature"]) == ("other", 0.3)
    assistants = [m for m in stack.messages(session) if m["role"] == "assistant"]
    assert [m["meta"]["model"] for m in assistants] == ["scripted", "other"]
