"""The forward pass of a BERT sentence encoder (all-MiniLM-L6-v2): tokens in, mean-pooled unit vectors out.

Why not sentence-transformers: importing it (with transformers) took 6–11 s of CPU in every
process that embeds, where this module and torch take under 2 s, for the same vectors
(within 2e-7; tests/embeddings compares the two). It reads the packaged weights
(`model.safetensors`), `config.json` and `tokenizer.json`, and never reaches for a model hub.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model; longer texts are truncated


class Encoder:
    """A BERT encoder with mean pooling and L2 normalisation, on the CPU."""

    def __init__(self, folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        self._layers = config["num_hidden_layers"]
        self._heads = config["num_attention_heads"]
        self._eps = config["layer_norm_eps"]
        self._width = config["hidden_size"]
        self._weights = load_file(str(folder / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()  # batches are padded here, to their own longest text

    def encode(self, texts: Sequence[str], batch_size: int) -> list[list[float]]:
        """One unit vector per text, in order. Texts of similar length share a batch, to pad little."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        vectors: list[list[float]] = [[] for _ in encodings]
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                for i, vector in zip(batch, self._forward([encodings[i].ids for i in batch]).tolist()):
                    vectors[i] = vector
        return vectors

    def _forward(self, sequences: list[list[int]]) -> torch.Tensor:
        F = torch.nn.functional
        w = self._weights
        batch, length = len(sequences), max(len(s) for s in sequences)
        ids = torch.zeros((batch, length), dtype=torch.long)
        mask = torch.zeros((batch, length))
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        attend = (mask > 0)[:, None, None, :]  # no attention to padding
        for n in range(self._layers):
            layer = f"encoder.layer.{n}."
            q, k, v = (self._heads_of(self._linear(x, f"{layer}attention.self.{p}")) for p in ("query", "key", "value"))
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(batch, length, self._width)
            x = self._norm(self._linear(attended, f"{layer}attention.output.dense") + x, f"{layer}attention.output.LayerNorm")
            hidden = F.gelu(self._linear(x, f"{layer}intermediate.dense"))  # BERT's exact (erf) GELU
            x = self._norm(self._linear(hidden, f"{layer}output.dense") + x, f"{layer}output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, dim=1)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return torch.nn.functional.linear(x, self._weights[f"{name}.weight"], self._weights[f"{name}.bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        w = self._weights
        return torch.nn.functional.layer_norm(x, (self._width,), w[f"{name}.weight"], w[f"{name}.bias"], self._eps)

    def _heads_of(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self._heads, self._width // self._heads).transpose(1, 2)
