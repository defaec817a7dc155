"""Memory search: latency and recall@10 of Soma's HNSW recall against exact search, up to a million memories.

Run from the repository root:

    .venv/bin/python -m bench.memory_search [--sizes 10000,100000] [--queries 200] [--ef 40,100,200]
    nice -n 10 .venv/bin/python -m bench.memory_search --random --sizes 10000,100000,1000000 --data-dir /tmp/soma-bench-mem

It starts an embedded PostgreSQL (in a temporary directory, or in --data-dir, kept for the next run),
migrates it, and fills `memories` for each size with either real all-MiniLM-L6-v2 embeddings of
generated facts (embedded once and cached in /tmp/soma-bench-memories-N.npy) or, with --random,
unit vectors drawn with numpy from a fixed seed (cached in /tmp/soma-bench-random-dL-N.npy): a hard
case for HNSW, as no vector has close neighbours. Rows go in by binary COPY; the HNSW index is
built afterwards (its time is printed) unless the table already holds exactly those rows with an
index of the same m and ef_construction. Then the same queries run through an exact scan,
through the index at each `hnsw.ef_search` asked for, and through `soma.memory.store.recall`,
which chooses the search by the table's size (soma.db.hnsw). It prints p50/p95 latency and
recall@10 against the exact top 10. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import sqlalchemy as sa
from pgvector.psycopg import register_vector

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.stack import database, unwind_on, work_dir  # noqa: E402
from soma.db import hnsw, tables  # noqa: E402
from soma.db import engine as db_engine  # noqa: E402
from soma.embeddings import embedder  # noqa: E402
from soma.memory import store  # noqa: E402

K = 10
DIMENSIONS = 384
SHARED_BUFFERS = "6GB"  # the 1M index (~2 GB) must fit, as on a server sized for it; the default 128 MB thrashes
MAINTENANCE_WORK_MEM = "8GB"  # the whole graph in memory while it is built, else the build slows down several times
EXACT_TIMED = 50  # exact scans timed per size (a 1M scan takes a while; the recall reference is computed apart)
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


def embedded_vectors(texts: list[str], cache: Path) -> np.ndarray:
    """MiniLM embeddings of texts, cached."""
    if cache.exists():
        cached = np.load(cache)
        if len(cached) == len(texts):
            return cached
    started = time.perf_counter()
    out = np.array(embedder.MiniLM().embed_sync(texts), dtype=np.float32)
    print(f"  embedded {len(texts)} facts in {time.perf_counter() - started:.0f}s")
    np.save(cache, out)
    return out


def random_vectors(count: int, seed: int, latent: int, cache: Path | None = None) -> np.ndarray:
    """`count` random unit vectors, float32, the same for the same seed.

    latent 0: uniform on the sphere (normalised Gaussians), where every vector is about as far from
    every other and no index can do much better than reading them all. latent n: Gaussians in n
    dimensions mapped into 384 by one fixed random matrix, plus 5 % noise in every dimension: the
    low intrinsic dimension of text embeddings, with none of their clusters.
    """
    if cache is not None and cache.exists():
        return np.load(cache, mmap_mode="r")
    rng = np.random.default_rng(seed)
    mapping = np.random.default_rng(1).standard_normal((latent, DIMENSIONS)) / np.sqrt(latent) if latent else None
    out = np.empty((count, DIMENSIONS), dtype=np.float32)
    for start in range(0, count, 100_000):  # in slices: 1M float64 rows at once would take 3 GB
        rows = min(100_000, count - start)
        if mapping is None:
            part = rng.standard_normal((rows, DIMENSIONS))
        else:
            part = rng.standard_normal((rows, latent)) @ mapping + 0.05 * rng.standard_normal((rows, DIMENSIONS))
        out[start : start + rows] = part / np.linalg.norm(part, axis=1, keepdims=True)
    if cache is not None:
        np.save(cache, out)
    return out


def fill(url: str, texts: list[str], vecs: np.ndarray, m: int, ef_construction: int) -> None:
    """Make `memories` hold exactly these rows (ids 1…n) under an HNSW index with m and ef_construction."""
    definition = f"USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"
    with psycopg.connect(url, autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'memories_embedding_hnsw'").fetchone()
        if count == len(texts) and index and f"m='{m}', ef_construction='{ef_construction}'" in index[0]:
            print(f"  {count} rows and their index kept from the last run")
            return
        conn.execute("DROP INDEX IF EXISTS memories_embedding_hnsw")
        if count != len(texts):
            conn.execute("TRUNCATE memories RESTART IDENTITY")
            started = time.perf_counter()
            copy_rows(conn, texts, vecs)
            print(f"  {len(texts)} rows copied in {time.perf_counter() - started:.1f}s")
        conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        started = time.perf_counter()
        conn.execute(f"CREATE INDEX memories_embedding_hnsw ON memories {definition}")
        print(f"  HNSW index (m={m}, ef_construction={ef_construction}) built in {time.perf_counter() - started:.1f}s")
        conn.execute("VACUUM ANALYZE memories")


def copy_rows(conn: psycopg.Connection, texts: list[str], vecs: np.ndarray) -> None:
    """Binary COPY: vectors go as pgvector's binary format, never as text to parse."""
    register_vector(conn)
    with conn.cursor().copy("COPY memories (content, embedding, embedding_model, source) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["text", "vector", "text", "text"])
        for content, vector in zip(texts, vecs, strict=True):
            copy.write_row((content, np.asarray(vector), embedder.MODEL_ID, "user"))


async def timed(url: str, queries: np.ndarray, ef: int | None) -> tuple[list[float], list[list[int]]]:
    """Latency (ms) and result ids for each query on one pooled connection: recall() as Soma runs it
    when ef is None, else the same ORDER BY … LIMIT through the index at that ef_search (0: exact scan)."""
    engine = db_engine.create(url, pool_size=1)
    times, results = [], []
    nearest = sa.text("SELECT id FROM memories ORDER BY embedding <=> CAST(:v AS vector) LIMIT :k")
    try:
        async with db_engine.autocommit(engine) as conn:  # as a turn reads: each statement its own transaction
            if ef == 0:
                await conn.execute(sa.text("SET enable_indexscan = off"))
            elif ef is not None:
                await conn.execute(sa.text(f"SET hnsw.ef_search = {ef}"))
            for q in queries:
                vector = q.tolist()
                started = time.perf_counter()
                if ef is None:
                    found = [m["id"] for m in await store.recall(conn, vector, K, threshold=-1.0)]
                else:
                    found = list((await conn.execute(nearest, {"v": str(vector), "k": K})).scalars())
                times.append((time.perf_counter() - started) * 1000)
                results.append(found)
    finally:
        await engine.dispose()
    return times, results


def exact_top(vecs: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    """The true top K ids (1-based, as inserted) by cosine similarity, computed apart from PostgreSQL."""
    best = np.full((len(queries), K), -np.inf)
    ids = np.zeros((len(queries), K), dtype=np.int64)
    for start in range(0, len(vecs), 100_000):
        scores = np.asarray(vecs[start : start + 100_000], dtype=np.float32) @ queries.T  # unit vectors: cosine
        merged = np.concatenate([best, scores.T], axis=1)
        merged_ids = np.concatenate([ids, np.arange(start + 1, start + 1 + scores.shape[0])[None, :].repeat(len(queries), 0)], axis=1)
        top = np.argsort(-merged, axis=1)[:, :K]
        best, ids = np.take_along_axis(merged, top, 1), np.take_along_axis(merged_ids, top, 1)
    return ids.tolist()


def pct(values: list[float], p: float) -> float:
    return stats.percentile(values, p, method="exclusive")  # as the published figures were computed


def recall_at_k(found: list[list[int]], truth: list[list[int]]) -> float:
    return statistics.mean(len(set(a) & set(b)) / K for a, b in zip(found, truth))


TABLE = stats.Table(("search", "<30", ""), ("p50 ms", ">9", ".2f"), ("p95 ms", ">9", ".2f"), ("recall@10", ">11", ".3f"),
                    ("vs exact p50", ">14", ".2f"))  # fmt: skip


def report(size: int, url: str, vecs: np.ndarray, queries: np.ndarray, efs: list[int]) -> None:
    truth = exact_top(vecs, queries)
    with psycopg.connect(url, autocommit=True) as conn:  # timed warm, as a server that has been answering is
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute("SELECT pg_prewarm('memories'), pg_prewarm('memories_embedding_hnsw')")
    exact_ms, _ = asyncio.run(timed(url, queries[:EXACT_TIMED], 0))
    print(TABLE.heading())
    print(TABLE.row("exact (seq scan)", pct(exact_ms, 50), pct(exact_ms, 95), 1.0, 1.0))
    for ef in efs:
        ms, ids = asyncio.run(timed(url, queries, ef))
        label = f"hnsw ef_search={ef}" + (" (pgvector)" if ef == 40 else "")
        print(TABLE.row(label, pct(ms, 50), pct(ms, 95), recall_at_k(ids, truth), pct(ms, 50) / pct(exact_ms, 50)))
    ms, ids = asyncio.run(timed(url, queries, None))
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'memories'").fetchone()[0]
    depth = hnsw.depth_for(rows)
    label = "soma: " + ("exact" if depth is None else f"ef_search={depth}")
    print(TABLE.row(label, pct(ms, 50), pct(ms, 95), recall_at_k(ids, truth), pct(ms, 50) / pct(exact_ms, 50)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", default="40,100,200,400", help="hnsw.ef_search values to compare with Soma's choice")
    parser.add_argument("--random", action="store_true", help="random unit vectors instead of MiniLM embeddings of facts")
    parser.add_argument("--latent", type=int, default=0, help="with --random: vectors of this intrinsic dimension (0: uniform)")
    parser.add_argument("--m", type=int, default=tables.HNSW_GRAPH["m"], help="HNSW m (as migration 0011 builds it)")
    parser.add_argument(
        "--ef-construction", type=int, default=tables.HNSW_GRAPH["ef_construction"], help="HNSW ef_construction (as migration 0011 builds it; pgvector's default is 64)"
    )
    parser.add_argument("--data-dir", type=Path, help="keep the embedded PostgreSQL here, to reuse its rows and index")
    args = parser.parse_args()
    unwind_on(signal.SIGINT, signal.SIGTERM)  # SIGINT too: the 1M run goes in the background
    sizes = [int(s) for s in args.sizes.split(",")]
    efs = [int(e) for e in args.ef.split(",")]

    data_dir = args.data_dir or work_dir("soma-bench-mem-")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # a kept one too: the embedded server runs as another user when this runs as root
    server = database(data_dir, {"shared_buffers": SHARED_BUFFERS})
    try:
        if args.random:
            queries = np.asarray(random_vectors(args.queries, seed=99, latent=args.latent))
        else:
            texts = [f"What do you know about {s}?" for s in SUBJECTS] + facts(args.queries, seed=99)
            queries = np.array(embedder.MiniLM().embed_sync(texts[: args.queries]), dtype=np.float32)
        for size in sizes:
            kind = "MiniLM embeddings of facts" if not args.random else f"random unit vectors, intrinsic dimension {args.latent or DIMENSIONS}"
            print(f"\n=== {size} memories ({kind}) ===")
            if args.random:
                texts = [f"memory {i}" for i in range(size)]
                vecs = random_vectors(size, seed=7, latent=args.latent, cache=Path(f"/tmp/soma-bench-random-d{args.latent}-{size}.npy"))
            else:
                texts = facts(size)
                vecs = embedded_vectors(texts, Path(f"/tmp/soma-bench-memories-{size}.npy"))
            fill(server.url, texts, vecs, args.m, args.ef_construction)
            report(size, server.url, vecs, queries, efs)
    finally:
        server.stop()
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
