"""Re-embedding in-process: what `soma migrate` queues, what /ready and the metrics show, and what the job writes."""

from __future__ import annotations

import psycopg

from soma.db import engine as db_engine
from soma.db import migrate
from soma.embeddings import embedder, reembed
from soma.observability import metrics
from tests.conftest import EMBEDDER

VECTOR = "[" + ",".join(["0.051031"] * embedder.DIMENSIONS) + "]"  # any unit vector: the identity decides
MEMORIES = ["The keeper is called Ada.", "The lamp is lit at dusk."]
CHUNKS = ["Every ship that passes is logged.", "The log is kept in the tower."]


def _rows_of(database_url: str, model: str, runtime: str) -> None:
    """Two memories and a document's two chunks, marked as made by (model, runtime)."""
    with psycopg.connect(database_url) as conn:
        for content in MEMORIES:
            conn.execute(
                "INSERT INTO memories (content, embedding, embedding_model, embedding_runtime, source) VALUES (%s, %s, %s, %s, 'user')",
                (content, VECTOR, model, runtime),
            )
        conn.execute("INSERT INTO knowledge_blobs (sha256, size_bytes) VALUES ('ab', 2)")
        [document] = conn.execute(
            "INSERT INTO knowledge_documents (filename, content_type, size_bytes, sha256, state, chunk_count) "
            "VALUES ('log.txt', 'text/plain', 2, 'ab', 'ready', 2) RETURNING id"
        ).fetchone()
        for n, content in enumerate(CHUNKS):
            conn.execute(
                "INSERT INTO knowledge_chunks (document_id, ordinal, content, embedding, embedding_model, embedding_runtime) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (document, n, content, VECTOR, model, runtime),
            )


def _jobs(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT task_name, queue_name, lock, status::text FROM procrastinate_jobs").fetchall()


def test_migrate_queues_one_reembedding_for_rows_another_embedder_made_however_often_it_runs(database_url: str) -> None:
    _rows_of(database_url, embedder.MODEL_ID, "fp32")

    first, second = (migrate.upgrade(database_url, after=reembed.after_migration) for _ in range(2))

    line = "re-embedding 4 vectors made by another embedder, in the background on the worker (GET /ready shows progress)"
    assert (first, second) == ([line], [])
    assert _jobs(database_url) == [(reembed.TASK_NAME, reembed.QUEUE_NAME, reembed.LOCK, "todo")]


def test_migrate_queues_nothing_when_every_vector_is_this_embedders(database_url: str) -> None:
    _rows_of(database_url, embedder.MODEL_ID, embedder.RUNTIME)

    assert migrate.upgrade(database_url, after=reembed.after_migration) == []
    assert _jobs(database_url) == []


async def test_the_job_reembeds_memories_and_chunks_while_ready_and_the_metrics_show_its_progress(database_url: str, api) -> None:
    _rows_of(database_url, "another/model", embedder.RUNTIME)  # the same runtime, another model: still another embedder
    migrate.upgrade(database_url, after=reembed.after_migration)
    before = (await api.get("/ready")).json()

    engine = db_engine.create(database_url, pool_size=1)
    try:
        written = await reembed.run(engine, EMBEDDER)
    finally:
        await engine.dispose()

    assert before["reembedding"] == {"done": 0, "total": 4}
    assert written == 4 and "reembedding" not in (await api.get("/ready")).json()
    assert (metrics.REEMBEDDING_DONE._value.get(), metrics.REEMBEDDING_TOTAL._value.get()) == (4, 4)
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT content, embedding::text, embedding_model, embedding_runtime FROM memories "
            "UNION ALL SELECT content, embedding::text, embedding_model, embedding_runtime FROM knowledge_chunks ORDER BY 1"
        ).fetchall()
    expected = dict(zip(MEMORIES + CHUNKS, EMBEDDER.embed_sync(MEMORIES + CHUNKS), strict=True))
    assert [(c, m, r) for c, _, m, r in stored] == [(c, embedder.MODEL_ID, embedder.RUNTIME) for c in sorted(expected)]
    for content, vector, *_ in stored:
        assert max(abs(float(a) - b) for a, b in zip(vector.strip("[]").split(","), expected[content], strict=True)) < 1e-5
