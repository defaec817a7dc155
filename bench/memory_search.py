"""Memory search: latency and recall@10 of Soma's HNSW recall against exact search.

Run from the repository root:

    .venv/bin/python -m bench.memory_search [--sizes 10000,100000] [--queries 200] [--ef 40,100,200]

It starts an embedded PostgreSQL in a temporary directory, migrates it, fills `memories` with
real all-MiniLM-L6-v2 embeddings of generated facts (embedded once and cached in
/tmp/soma-bench-memories-N.npy), then for each size and each `hnsw.ef_search` runs the same
queries through `soma.memory.store.recall` (the query every turn runs) and through an exact
scan (index scans disabled). It prints p50/p95 latency of both and recall@10 of the index
against the exact top 10. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soma.db import embedded, migrate  # noqa: E402
from soma.db import engine as db_engine  # noqa: E402
from soma.embeddings import embedder  # noqa: E402
from soma.memory import store  # noqa: E402
from tests.memory import unrelated  # noqa: E402  (the tests' bulk insert)

K = 10
SOMA_EF = store.EF_SEARCH
SUBJECTS = ["my sister", "our CFO", "the build server", "Dr. Osei", "the Lisbon office", "my landlord", "the cat",
            "the staging cluster", "grandma", "the new intern", "our biggest customer", "the garden"]
VERBS = ["prefers", "is allergic to", "was moved to", "costs", "needs", "hates", "is named after", "relies on",
         "was repaired by", "is scheduled for", "talks about", "collects"]
OBJECTS = ["green tea", "peanuts", "room {n}", "{n} euros a month", "a new battery", "Mondays", "a jazz pianist",
           "PostgreSQL {n}", "a plumber", "the {n}th of March", "old maps", "blue tulips", "vintage cameras",
           "flight {n}", "a standing desk", "invoice {n}"]


def facts(count: int, seed: int = 7) -> list[str]:
    """Generated, varied one-line facts (deterministic)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        obj = rng.choice(OBJECTS).format(n=rng.randint(1, 9999))
        out.append(f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {obj} (note {i}).")
    return out


def vectors_for(texts: list[str], cache: Path) -> np.ndarray:
    if cache.exists():
        cached = np.load(cache)
        if len(cached) == len(texts):
            return cached
    started = time.perf_counter()
    model = embedder.MiniLM()
    out = np.array(model.embed_sync(texts), dtype=np.float32)
    print(f"  embedded {len(texts)} facts in {time.perf_counter() - started:.0f}s")
    np.save(cache, out)
    return out


def fill(url: str, texts: list[str], vecs: np.ndarray) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE memories")
        conn.execute("DROP INDEX IF EXISTS memories_embedding_hnsw")
    unrelated.insert(url, texts, vecs.tolist())
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("CREATE INDEX memories_embedding_hnsw ON memories USING hnsw (embedding vector_cosine_ops)")
        conn.execute("ANALYZE memories")
        print(f"  HNSW index built in {time.perf_counter() - started:.1f}s")


async def measure(url: str, queries: np.ndarray, ef: int | None, exact: bool) -> tuple[list[float], list[list[int]]]:
    """Latency (ms) and result ids of recall() for each query, on one pooled connection."""
    if ef is not None:
        store.EF_SEARCH = ef  # recall() sets hnsw.ef_search from it in every transaction
    engine = db_engine.create(url, pool_size=1)
    times, results = [], []
    try:
        async with engine.connect() as conn:
            if exact:
                await conn.execute(sa.text("SET enable_indexscan = off"))
            for q in queries:
                started = time.perf_counter()
                found = await store.recall(conn, q.tolist(), K, threshold=-1.0)
                times.append((time.perf_counter() - started) * 1000)
                results.append([m["id"] for m in found])
    finally:
        await engine.dispose()
    return times, results


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ef", default=f"40,100,{store.EF_SEARCH}", help=f"hnsw.ef_search values; 40 is pgvector's default, {store.EF_SEARCH} Soma's"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    efs = [int(e) for e in args.ef.split(",")]

    data_dir = Path(tempfile.mkdtemp(prefix="soma-bench-mem-"))
    data_dir.chmod(0o755)
    server = embedded.ensure(data_dir)
    try:
        migrate.upgrade(server.url)
        query_texts = [f"What do you know about {s}?" for s in SUBJECTS] + facts(args.queries, seed=99)
        query_vecs = np.array(embedder.MiniLM().embed_sync(query_texts[: args.queries]), dtype=np.float32)
        for size in sizes:
            print(f"\n=== {size} memories ===")
            texts = facts(size)
            fill(server.url, texts, vectors_for(texts, Path(f"/tmp/soma-bench-memories-{size}.npy")))
            exact_ms, exact_ids = asyncio.run(measure(server.url, query_vecs, None, exact=True))
            print(f"{'search':<22}{'p50 ms':>9}{'p95 ms':>9}{'recall@10':>11}{'vs exact p50':>14}")
            print(f"{'exact (seq scan)':<22}{pct(exact_ms, 50):>9.2f}{pct(exact_ms, 95):>9.2f}{1.0:>11.3f}{1.0:>14.2f}")
            for ef in efs:
                ms, ids = asyncio.run(measure(server.url, query_vecs, ef, exact=False))
                recall = statistics.mean(len(set(a) & set(b)) / K for a, b in zip(ids, exact_ids))
                label = f"hnsw ef={ef}" + (" pgvector" if ef == 40 else " soma" if ef == SOMA_EF else "")
                ratio = pct(ms, 50) / pct(exact_ms, 50)
                print(f"{label:<22}{pct(ms, 50):>9.2f}{pct(ms, 95):>9.2f}{recall:>11.3f}{ratio:>14.2f}")
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
