"""What a stream sends of an answer the SLM started again: only text that extends what the client already has."""

from __future__ import annotations

from soma.openai_compat.answer import Sent


def test_text_goes_out_as_it_grows_and_the_stored_answer_adds_nothing_already_sent() -> None:
    sent = Sent()

    assert [sent.add("Hello"), sent.add(" world"), sent.finish("Hello world")] == ["Hello", " world", ""]


def test_a_retry_that_says_the_same_goes_out_only_past_what_was_sent() -> None:
    sent = Sent()
    sent.add("Hello wor")
    sent.restart()

    assert [sent.add("Hello"), sent.add(" world"), sent.add("!"), sent.finish("Hello world!")] == ["", "ld", "!", ""]


def test_a_retry_that_says_something_else_sends_nothing_more() -> None:
    sent = Sent()
    sent.add("Hello")
    sent.restart()

    assert [sent.add("Goodbye"), sent.finish("Goodbye, then.")] == ["", ""]
    assert sent.text == "Hello"


def test_an_answer_stored_with_no_delta_read_is_sent_whole() -> None:
    assert Sent().finish("All at once.") == "All at once."
