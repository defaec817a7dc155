"""Spotting "remember that …" and "forget that …" in a user's message, for SLMs without tool calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# Conservative on purpose: only a message that opens with the request counts, so "do you
# remember that film?" or "forget that, let's talk about X" never change memory.
_POLITE = r"(?:(?:please|hey|ok|okay|soma)[\s,]+)*"
# The fact starts with a word or a quote ("forget that, …" is not a fact) and is no errand ("remember to …").
_FACT = r"(?!to\s)(?P<fact>[\w\"'“‘].*?)"
_PATTERNS: list[tuple[Literal["remember", "forget"], re.Pattern[str]]] = [
    (action, re.compile(rf"^\s*{_POLITE}{verb}(?:\s*:\s*|\s+){_FACT}\s*$", re.IGNORECASE | re.DOTALL))
    for action, verb in [
        ("remember", r"(?:please\s+)?remember\s+that"),
        ("remember", r"please\s+remember"),
        ("forget", r"(?:please\s+)?forget\s+that"),
        ("forget", r"please\s+forget"),
    ]
]
_NOTE = "You have acted on the user's request to change your memory. {result} Tell the user the outcome in one short sentence."


@dataclass(frozen=True)
class Intent:
    """A request to store or drop a fact, and the fact in the user's words."""

    action: Literal["remember", "forget"]
    fact: str


def detect(message: str) -> Intent | None:
    """The memory request a message makes, or None; questions ("…?") never count."""
    if message.rstrip().endswith("?"):
        return None
    for action, pattern in _PATTERNS:
        match = pattern.match(message)
        if match:
            return Intent(action, match["fact"].strip())
    return None


def note(result: str) -> str:
    """What the SLM is told after a request was carried out, so its answer can acknowledge it."""
    return _NOTE.format(result=result)
