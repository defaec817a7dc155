"""Building the messages sent to the SLM from the system prompt and the session's history."""

from __future__ import annotations

from typing import Any


def build(system_prompt: str, history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """OpenAI chat messages: the system prompt, then the conversation oldest first."""
    prompt = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    prompt += [{"role": m["role"], "content": m["content"]} for m in history]
    return prompt
