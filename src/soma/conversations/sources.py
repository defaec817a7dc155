"""What an answer drew on, recorded as its `meta.sources`: the knowledge passages and memories its prompt gave, and which its text cites.

Every source the turn gave the SLM is listed, so the reader sees what the answer could draw on:
knowledge passages first, in the order of their `[n]` markers (prompt.py numbers the excerpts from
1), then the recalled memories, best first. A passage is `cited` when the answer's text carries its
marker (`[2]`, or `[1, 2]`); a memory has no marker in the prompt (it is a fact about the user, not
a document to quote), so its `marker` and `cited` are null. The excerpt is kept whole (a chunk is at
most knowledge.chunking.CHUNK_CHARS, a memory memory.store.MAX_CHARS), so a source still shows after
its file or memory is deleted or changed.
"""

from __future__ import annotations

import re
from typing import Any

# A citation as the prompt asks for it: "[2]", or several markers in one pair of brackets, "[1, 3]".
_CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
TITLE_CHARS = 80  # a memory's title: its first words, up to this many characters


def listed(excerpts: list[dict[str, Any]], memories: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The answer's sources: each excerpt (as knowledge.store.retrieve gives it) and memory (as memory.store.recall does)."""
    cited = markers(text)
    passages = [
        {"kind": "knowledge", "id": e["document_id"], "title": e["filename"], "excerpt": e["content"], "marker": n, "cited": n in cited}
        for n, e in enumerate(excerpts, 1)
    ]
    remembered = [
        {"kind": "memory", "id": m["id"], "title": title(m["content"]), "excerpt": m["content"], "marker": None, "cited": None}
        for m in memories
    ]
    return passages + remembered


def markers(text: str) -> set[int]:
    """The `[n]` markers a text cites."""
    return {int(n) for group in _CITATION.findall(text) for n in re.split(r"\s*[,;]\s*", group)}


def title(content: str) -> str:
    """A memory's title: its text when short, else its first words up to TITLE_CHARS with an ellipsis."""
    flat = " ".join(content.split())
    if len(flat) <= TITLE_CHARS:
        return flat
    cut = flat[: TITLE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
