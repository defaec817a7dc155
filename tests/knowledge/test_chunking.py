"""Chunking: bounded size, overlap between neighbours, paragraphs kept whole where they fit."""

from __future__ import annotations

import random
import string

import pytest

from soma.knowledge import chunking


def _sentences(count: int, start: int = 0) -> str:
    return " ".join(f"Sentence number {n} says something." for n in range(start, start + count))


def _overlap(before: str, after: str) -> int:
    """How many characters of before's end start after."""
    return max(n for n in range(len(after) + 1) if before.endswith(after[:n]))


def test_a_short_text_is_one_chunk_with_its_paragraphs() -> None:
    assert chunking.split("# Title\n\nFirst   paragraph\nwith two lines.\n\n\n  Second.  ") == [
        "# Title\n\nFirst paragraph\nwith two lines.\n\nSecond."
    ]


def test_empty_or_blank_text_has_no_chunks() -> None:
    assert chunking.split("") == []
    assert chunking.split(" \n\n \t\n") == []


def test_paragraphs_are_packed_whole_and_the_next_chunk_repeats_the_end_of_the_last() -> None:
    paragraphs = [_sentences(5, start=10 * n) for n in range(6)]  # 169 to 174 characters each

    chunks = chunking.split("\n\n".join(paragraphs), size=400, overlap=60)

    assert chunks == [
        f"{paragraphs[0]}\n\n{paragraphs[1]}",
        f"number 13 says something. Sentence number 14 says something.\n\n{paragraphs[2]}",
        f"number 23 says something. Sentence number 24 says something.\n\n{paragraphs[3]}",
        f"number 33 says something. Sentence number 34 says something.\n\n{paragraphs[4]}",
        f"number 43 says something. Sentence number 44 says something.\n\n{paragraphs[5]}",
    ]


def test_a_long_paragraph_is_cut_at_sentence_ends_within_the_size() -> None:
    text = _sentences(100)  # about 3,500 characters, one paragraph

    chunks = chunking.split(text, size=500, overlap=100)

    assert all(len(c) <= 500 for c in chunks)
    assert all(c.endswith("says something.") for c in chunks)
    assert all(50 <= _overlap(before, after) <= 100 for before, after in zip(chunks, chunks[1:]))
    joined = " ".join(chunks)
    assert all(f"number {n} says" in joined for n in range(100))


def test_a_word_longer_than_a_chunk_is_cut_anywhere() -> None:
    word = "".join(random.Random(0).choices(string.ascii_lowercase, k=2500))

    chunks = chunking.split(word, size=1000, overlap=150)

    assert [len(c) for c in chunks] == [848, 998, 954]  # 848 = 1000 - 150 overlap - 2 for a joiner
    assert _overlap(chunks[0], chunks[1]) == _overlap(chunks[1], chunks[2]) == 150
    assert chunks[0] + chunks[1][150:] + chunks[2][150:] == word


def test_every_chunk_stays_within_the_default_size() -> None:
    text = "\n\n".join(_sentences(n % 40 + 1, start=n) for n in range(60))
    chunks = chunking.split(text)
    assert max(len(c) for c in chunks) <= chunking.CHUNK_CHARS
    assert len(chunks) > 1


def test_an_overlap_above_half_the_size_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap must be between 0 and half the chunk size; got 600 for 1000"):
        chunking.split("text", size=1000, overlap=600)
