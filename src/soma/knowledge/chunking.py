"""Splitting a document's text into overlapping chunks that keep paragraphs whole where they can."""

from __future__ import annotations

import re
from collections.abc import Iterator

CHUNK_CHARS = 1000  # characters per chunk at most: about 200 words, inside all-MiniLM-L6-v2's 256-token window
OVERLAP_CHARS = 150  # characters of one chunk's end repeated at the next one's start, so a cut sentence is found whole

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s")
_WHITESPACE = re.compile(r"\s")
_PARAGRAPH_JOINER = "\n\n"


def split(text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Chunks of at most `size` characters, each starting with up to `overlap` characters of the one before.

    Paragraphs are packed whole into a chunk while they fit; a paragraph longer than a chunk is cut
    at a sentence end, else between words, else (one huge word) anywhere.
    """
    if not 0 <= overlap <= size // 2:
        raise ValueError(f"overlap must be between 0 and half the chunk size; got {overlap} for {size}")
    # Room for the overlap and a joiner in front of every unit keeps every chunk within size.
    width = size - overlap - len(_PARAGRAPH_JOINER)
    chunks: list[str] = []
    current = ""
    for unit, joiner in _units(text, width):
        if not current:
            current = unit
        elif len(current) + len(joiner) + len(unit) <= size:
            current += joiner + unit
        else:
            chunks.append(current)
            tail = _tail(current, overlap)
            current = tail + joiner + unit if tail else unit
    if current:
        chunks.append(current)
    return chunks


def _units(text: str, width: int) -> Iterator[tuple[str, str]]:
    """Pieces of at most `width` characters, each with the whitespace that joins it to the piece before."""
    for block in _PARAGRAPH_BREAK.split(text):
        lines = (" ".join(line.split()) for line in block.splitlines())
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            yield from _pieces(paragraph, width)


def _pieces(paragraph: str, width: int) -> Iterator[tuple[str, str]]:
    joiner = _PARAGRAPH_JOINER
    rest = paragraph
    while len(rest) > width:
        cut = _cut(rest, width)
        yield rest[:cut], joiner
        if rest[cut].isspace():
            joiner, rest = rest[cut], rest[cut + 1 :]
        else:
            joiner, rest = "", rest[cut:]  # cut inside a word: glue the halves back without a space
    yield rest, joiner


def _cut(text: str, width: int) -> int:
    """Where to cut text so the first piece has at most width characters: a sentence end, a space, or width."""
    window = text[: width + 1]  # a space right after the limit is a clean cut too
    floor = width // 2  # never cut so early that pieces get tiny
    ends = [m.start() for m in _SENTENCE_END.finditer(window, floor)]
    if ends:
        return ends[-1]
    spaces = [i for i in range(width, floor - 1, -1) if window[i].isspace()]
    return spaces[0] if spaces else width


def _tail(chunk: str, overlap: int) -> str:
    """At most the last `overlap` characters of chunk, starting at a word."""
    if overlap == 0:
        return ""
    start = len(chunk) - overlap
    if start <= 0:
        return chunk
    if chunk[start - 1].isspace():
        return chunk[start:].lstrip()
    space = _WHITESPACE.search(chunk, start)
    return chunk[space.end() :].lstrip() if space else chunk[start:]  # no space: one long word, overlapped as it is
