"""1,000 distinct, unrelated memories for recall tests: storage places, recipes, codes and schedules."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import psycopg

from soma.embeddings import embedder
from tests.conftest import EMBEDDER

_THINGS = [
    "the blue kettle", "the garden hose", "the spare tyre", "the tax folder", "the camping stove", "the old laptop",
    "the piano tuner's card", "the bike pump", "the winter duvet", "the printer ink", "the fishing rod",
    "the paint brushes", "the passport", "the toolbox", "the yoga mat", "the chess set", "the sewing kit",
    "the ladder", "the fire extinguisher", "the router",
]
_PLACES = [
    "in the attic", "under the stairs", "in the shed", "behind the sofa", "in the car boot", "on the top shelf",
    "in the cellar", "in the hallway cupboard", "next to the freezer", "in the blue crate",
]
_TEMPLATES = [
    "Bake the sourdough at {} degrees for {} minutes.",
    "The invoice {} was paid on day {} of the quarter.",
    "Gate code {} opens the car park on level {}.",
    "The train to the airport leaves platform {} at {} past the hour.",
    "Water the tomato plants every {} days and the orchid every {} days.",
    "Server rack {} needs a new fan in slot {}.",
    "The football match ended {} to {}.",
    "Order {} of printer paper arrives in {} weeks.",
]


def facts() -> list[str]:
    """The 1,000 facts; none is closer than 0.3 (cosine) to "Where does my sister Alice live?"."""
    found = [f"{t.capitalize()} is kept {p}, box {n}." for n, (t, p) in enumerate(itertools.product(_THINGS, _PLACES))]
    for template in _TEMPLATES:
        found += [template.format(a, b) for a, b in itertools.product(range(3, 28), range(2, 10))][:100]
    return found


@functools.lru_cache(maxsize=4)
def _vectors(contents: tuple[str, ...]) -> list[list[float]]:
    """The same 1,000 facts serve several tests: embed them once per test process."""
    return EMBEDDER.embed_sync(contents)


def insert(database_url: str, contents: list[str], vectors: Sequence[Sequence[float]] | None = None) -> None:
    """Bulk-insert as user memories, faster than the API would; embeds in batches unless given the vectors."""
    if vectors is None:
        vectors = _vectors(tuple(contents))
    with psycopg.connect(database_url) as conn, conn.cursor().copy(
        "COPY memories (content, embedding, embedding_model, embedding_runtime, source) FROM STDIN"
    ) as copy:
        for content, vector in zip(contents, vectors, strict=True):
            copy.write_row((content, str(list(vector)), embedder.MODEL_ID, embedder.RUNTIME, "user"))
