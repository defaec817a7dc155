"""Texts whose vectors tests/embeddings compares with sentence-transformers' reference ones."""

from __future__ import annotations

from tests.memory import unrelated

TEXTS = [
    "Where does my sister Alice live?",
    "My sister Alice lives in Lisbon.",
    "",  # nothing but [CLS] and [SEP]
    "word " * 400 + "end",  # beyond 256 tokens: truncated as sentence-transformers truncates it
    "Héllo wörld! 你好 🙂 tabs\tand\nnew lines, ÀÉÎ accents",
    *unrelated.facts()[::100],  # ten lengths in one call: batches padded to their own longest text
]
