"""What a chat's profile does to its turn: the settings it refines and the tools it lets the turn offer.

A profile refines the agent settings, never replaces them: its system prompt follows the settings'
own after a blank line, and a `model`, `max_tool_steps` or `tools` left None is the settings'.
A chat with no profile (made before profiles, or its profile deleted since) runs on the settings alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from soma.profiles.store import Profile
from soma.settings.store import AgentSettings
from soma.tools.registry import Offered


def settings(agent: AgentSettings, profile: Profile | None) -> AgentSettings:
    """The settings a turn of a chat with `profile` runs with."""
    if profile is None:
        return agent
    prompt = f"{agent.system_prompt}\n\n{profile.system_prompt}" if profile.system_prompt else agent.system_prompt
    return agent.model_copy(update={
        "system_prompt": prompt,
        "slm_model": profile.model or agent.slm_model,
        "max_tool_steps": profile.max_tool_steps or agent.max_tool_steps,
    })  # fmt: skip


def tools(offered: Iterable[Offered], profile: Profile | None) -> list[Offered]:
    """Of the tools a turn would offer, those the profile names (by function name); all of them when it names none (None)."""
    if profile is None or profile.tools is None:
        return list(offered)
    allowed = frozenset(profile.tools)
    return [item for item in offered if item.tool.spec.function_name in allowed]
