"""A chat's agent profile refines its turns: the settings' system prompt then the profile's, its model, only its tools, its step limit."""

from __future__ import annotations

import uuid

from soma.conversations import sessions
from soma.profiles import store as profiles
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests.conversations import probes
from tests.conversations.harness import DEFAULT_TEXT, MEMORY_TOOLS

AUDITOR = profiles.Profile(
    name="auditor", description="Checks figures.", system_prompt="Check every figure twice.", model="auditor-model",
    tools=["probe__kept", "remember"], max_tool_steps=2,
)  # fmt: skip


async def _chat_with(turns, profile: profiles.Profile) -> uuid.UUID:
    """A profile added as POST /v1/profiles adds it, and a chat made with it as POST /v1/sessions makes one."""
    async with turns.engine.begin() as conn:
        await profiles.create(conn, profile)
        return uuid.UUID((await sessions.create(conn, None, profile=profile.name))["id"])


async def test_a_chat_with_a_profile_sends_the_combined_prompt_its_model_only_its_tools_and_stops_at_its_step_limit(turns, slm) -> None:
    turns.tools = probes.Source(probes.Probe("kept"), probes.Probe("dropped"))
    slm.script(default={"chunks": ["Checked."], "tool_calls": [{"name": "probe__kept", "arguments": {}}]})
    chat = await _chat_with(turns, AUDITOR)

    turn = await turns.answer("Are the books right?", chat)

    first, last = [r["body"] for r in slm.requests()]  # max_tool_steps 2: the second request is the last, and offers no tools
    assert first["messages"][0] == {"role": "system", "content": f"{DEFAULT_SYSTEM_PROMPT}\n\nCheck every figure twice."}
    assert (first["model"], last["model"]) == ("auditor-model", "auditor-model")
    assert [t["function"]["name"] for t in first["tools"]] == ["remember", "probe__kept"]
    assert "tools" not in last
    assert (turn.outcome, turn.messages[-1]["content"], turn.messages[-1]["meta"]["model"]) == ("answered", "Checked.\n\nChecked.", "auditor-model")


async def test_a_profile_without_prompt_model_or_steps_takes_the_settings_and_an_empty_tool_list_offers_none(turns, slm) -> None:
    await turns.change_settings({"system_prompt": "Be brief.", "slm_model": "settings-model"})
    chat = await _chat_with(turns, profiles.Profile(name="quiet", tools=[]))

    await turns.answer("Hi", chat)

    [request] = slm.requests()
    assert request["body"] == {
        "model": "settings-model", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True, "max_tokens": 512,
    }  # fmt: skip


async def test_a_chat_whose_profile_was_deleted_runs_on_the_settings_alone(turns, slm) -> None:
    chat = await _chat_with(turns, AUDITOR)
    async with turns.engine.begin() as conn:
        await profiles.delete(conn, "auditor")

    turn = await turns.answer("Are the books right?", chat)

    [request] = slm.requests()
    assert request["body"]["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    assert (request["body"]["model"], request["body"]["tools"]) == ("scripted", MEMORY_TOOLS)
    assert (turn.outcome, turn.messages[-1]["content"]) == ("answered", DEFAULT_TEXT)
