"""The forward pass of a BERT sentence encoder (all-MiniLM-L6-v2) in numpy: tokens in, mean-pooled unit vectors out.

Soma ran this (as src/soma/embeddings/bert.py) before ONNX Runtime; bench/embeddings.py keeps it as a baseline.

Why numpy, not torch or sentence-transformers: the model is six layers of 384 wide, a few matrix
products that numpy's BLAS runs as fast as torch does on a CPU. Importing torch cost 1.3 s of CPU in
every process that embeds (sentence-transformers with transformers 6–11 s), and PyPI's default torch
build brings gigabytes of CUDA libraries; numpy is already installed (pgvector needs it). The vectors
are sentence-transformers' own for the same packaged weights, within 1e-6 (tests/embeddings checks
against its stored reference), so vectors made before and after are the same model's. It reads the
packaged `model.safetensors`, `config.json` and `tokenizer.json`, and never reaches for a model hub.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from soma.embeddings import encoder

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model; longer texts are truncated
_NO_ATTENTION = np.float32(-1e30)  # added to the scores of padding positions, so softmax gives them 0

# Abramowitz and Stegun 7.1.26, erf to within 1.5e-7: BERT's GELU is the exact (erf) one, and numpy has no erf.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))
_ROOT_HALF = np.float32(1 / math.sqrt(2))
_HALF = np.float32(0.5)


class Encoder:
    """A BERT encoder with mean pooling and L2 normalisation, on the CPU, in float32."""

    def __init__(self, folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        self._layers = config["num_hidden_layers"]
        self._heads = config["num_attention_heads"]
        self._eps = np.float32(config["layer_norm_eps"])
        self._width = config["hidden_size"]
        weights = load_file(str(folder / "model.safetensors"))
        # Linear layers' weights stored transposed once (in, out), so each layer is one contiguous matrix product.
        self._weights = {k: _as_input_major(k, v) for k, v in weights.items()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()  # batches are padded here, to their own longest text

    def encode(self, texts: Sequence[str], batch_size: int) -> list[list[float]]:
        """One unit vector per text, in order. Texts of similar length share a batch, to pad little."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        vectors: list[list[float]] = [[] for _ in encodings]
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            for i, vector in zip(batch, self._forward([encodings[i].ids for i in batch]).tolist()):
                vectors[i] = vector
        return vectors

    def _forward(self, sequences: list[list[int]]) -> np.ndarray:
        w = self._weights
        ids, mask = encoder.padded(sequences)
        mask = mask.astype(np.float32)
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        padding = np.where(mask > 0, np.float32(0), _NO_ATTENTION)[:, None, None, :]  # no attention to padding
        for n in range(self._layers):
            layer = f"encoder.layer.{n}."
            q, k, v = (self._heads_of(self._linear(x, f"{layer}attention.self.{p}")) for p in ("query", "key", "value"))
            attended = _attention(q, k, v, padding).transpose(0, 2, 1, 3).reshape(batch, length, self._width)
            x = self._norm(self._linear(attended, f"{layer}attention.output.dense") + x, f"{layer}attention.output.LayerNorm")
            hidden = _gelu(self._linear(x, f"{layer}intermediate.dense"))
            x = self._norm(self._linear(hidden, f"{layer}output.dense") + x, f"{layer}output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # As one (batch × length, in) @ (in, out) product: numpy would loop over a 3-d batch instead.
        rows = x.reshape(-1, x.shape[-1]) @ self._weights[f"{name}.weight"]
        rows += self._weights[f"{name}.bias"]
        return rows.reshape(*x.shape[:-1], rows.shape[-1])

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        centred = x - x.mean(-1, keepdims=True)
        scaled = centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + self._eps)
        return scaled * self._weights[f"{name}.weight"] + self._weights[f"{name}.bias"]

    def _heads_of(self, x: np.ndarray) -> np.ndarray:
        batch, length, _ = x.shape
        return x.reshape(batch, length, self._heads, self._width // self._heads).transpose(0, 2, 1, 3)


def _as_input_major(name: str, weight: np.ndarray) -> np.ndarray:
    linear = weight.ndim == 2 and name.endswith(".weight") and not name.startswith("embeddings.")
    return np.ascontiguousarray(weight.T) if linear else weight


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Scaled dot-product attention per head, padding masked out."""
    scores = q @ k.transpose(0, 1, 3, 2)
    scores *= np.float32(1 / math.sqrt(q.shape[-1]))
    scores += padding
    scores -= scores.max(-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(-1, keepdims=True)
    return scores @ v


def _gelu(x: np.ndarray) -> np.ndarray:
    """x · Φ(x), Φ from erf (Abramowitz and Stegun 7.1.26), computed in place where it can be."""
    z = np.abs(x) * _ROOT_HALF
    t = 1 / (1 + _ERF_P * z)
    poly = t * _ERF_A[0]
    for a in _ERF_A[1:]:
        poly += a
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / √2)
    poly *= _HALF
    return x * np.where(x >= 0, 1 - poly, poly)
