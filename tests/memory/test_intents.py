"""Spotting "remember that …" and "forget that …" in user messages."""

from __future__ import annotations

import pytest

from soma.memory import intents


@pytest.mark.parametrize(
    ("message", "action", "fact"),
    [
        ("Remember that my sister lives in Lisbon.", "remember", "my sister lives in Lisbon."),
        ("remember that I take my coffee black", "remember", "I take my coffee black"),
        ("REMEMBER THAT the boiler code is 1234", "remember", "the boiler code is 1234"),
        ("Please remember that my flight leaves at 9", "remember", "my flight leaves at 9"),
        ("please remember my cat is called Tom", "remember", "my cat is called Tom"),
        ("Soma, please remember: I prefer metric units.", "remember", "I prefer metric units."),
        ("  Hey, remember that\nthe spare key is under the mat  ", "remember", "the spare key is under the mat"),
        ("Forget that my sister lives in Lisbon.", "forget", "my sister lives in Lisbon."),
        ("please forget my old address", "forget", "my old address"),
    ],
)
def test_a_request_to_remember_or_forget_gives_the_fact(message, action, fact) -> None:
    assert intents.detect(message) == intents.Intent(action, fact)


@pytest.mark.parametrize(
    "message",
    [
        "Do you remember that film we saw?",
        "Remember that time in Rome?",
        "I remember that day well.",
        "Please remember to buy milk",
        "remember that",
        "Forget that, let's talk about Rome.",
        "forget it",
        "What should I remember when travelling?",
        "Can you please remember things for me?",
    ],
)
def test_other_messages_are_no_request(message) -> None:
    assert intents.detect(message) is None


def test_the_note_tells_the_slm_the_outcome_to_acknowledge() -> None:
    assert intents.note("Remembered as memory 3: I like tea.") == (
        "You have acted on the user's request to change your memory. Remembered as memory 3: I like tea. "
        "Tell the user the outcome in one short sentence."
    )
