"""Vectors another embedder made are re-embedded in the background by the worker, resumably, with progress on /ready."""

from __future__ import annotations

import signal

import psycopg

from soma.embeddings import embedder
from tests import procs
from tests.conftest import EMBEDDER

ROWS = 200  # four batches of reembed.BATCH
HELD = 100  # a row of the second batch: its lock stops the worker after the first batch has committed
OTHER_VECTOR = "[" + ",".join(["0.051031"] * embedder.DIMENSIONS) + "]"  # any unit vector: the identity decides


def _other_embedders_memories(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO memories (content, embedding, embedding_model, embedding_runtime, source) "
            "SELECT 'The lighthouse log, entry ' || n, CAST(%s AS vector), %s, 'fp32', 'user' FROM generate_series(1, %s) n",
            (OTHER_VECTOR, embedder.MODEL_ID, ROWS),
        )


def _reembedding(stack) -> dict | None:
    return stack.client.get(stack.url + "/ready").json().get("reembedding")


def test_a_worker_killed_mid_reembedding_leaves_the_rest_to_the_next_and_ready_shows_the_progress(stack) -> None:
    _other_embedders_memories(stack.database_url)
    migrated = procs.run_soma(stack.env(), "migrate")
    assert migrated.stdout.strip().splitlines() == [
        f"applied: re-embedding {ROWS} vectors made by another embedder, in the background on the worker (GET /ready shows progress)"
    ]
    assert _reembedding(stack) == {"done": 0, "total": ROWS}

    with psycopg.connect(stack.database_url) as holder:
        holder.execute("SELECT id FROM memories WHERE id = %s FOR UPDATE", (HELD,))
        doomed = stack.worker()
        procs.wait_until(lambda: _reembedding(stack) == {"done": 64, "total": ROWS}, 60, "the first batch to commit")
        doomed.signal(signal.SIGKILL)
        doomed.wait(10)
    stack.worker()  # takes the dead worker's job once its heartbeat is stale, and goes on from the second batch
    procs.wait_until(lambda: _reembedding(stack) is None, 60, "the re-embedding to finish", interval=0.2)

    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute("SELECT content, embedding::text, embedding_model, embedding_runtime FROM memories ORDER BY id").fetchall()
        progress = conn.execute("SELECT done, total, finished_at IS NOT NULL FROM reembedding").fetchone()
    assert {(model, runtime) for _, _, model, runtime in rows} == {(embedder.MODEL_ID, embedder.RUNTIME)}
    expected = EMBEDDER.embed_sync([content for content, *_ in rows])
    got = [[float(x) for x in vector.strip("[]").split(",")] for _, vector, *_ in rows]
    assert max(abs(a - b) for g, e in zip(got, expected, strict=True) for a, b in zip(g, e, strict=True)) < 1e-5
    assert progress == (ROWS, ROWS, True)
