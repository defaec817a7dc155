"""Knowledge retrieval on a real database: the search soma.db.hnsw chooses, through the join with ready documents."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma.db import engine as db_engine
from soma.db import tables
from soma.knowledge import store

CHUNKS = 60  # more than pgvector's default depth of 40, which is the most an HNSW scan at that depth returns
K = 50
# The planner must use the HNSW index when the query lets it: for a few chunks, finding them by
# their document and sorting them looks cheaper (for a million it would not).
PREFER_THE_INDEX = ("enable_seqscan", "enable_sort")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.create(database_url)
    yield engine
    await engine.dispose()


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


async def _store_chunks(engine: AsyncEngine, vectors: np.ndarray) -> None:
    """One ready document holding a chunk for each vector, and one pending document whose chunks must never be found."""
    async with engine.begin() as conn:
        await conn.execute(sa.insert(tables.knowledge_blobs), [{"sha256": name, "size_bytes": 1} for name in ("ready", "pending")])
        for state in ("ready", "pending"):
            document = {"filename": f"{state}.txt", "content_type": "text/plain", "size_bytes": 1, "sha256": state, "state": state}
            inserted = sa.insert(tables.knowledge_documents).values(document).returning(tables.knowledge_documents.c.id)
            document_id = (await conn.execute(inserted)).scalar_one()
            chunks = [
                {"document_id": document_id, "ordinal": n, "content": f"{state} {n}", "embedding": vector.tolist(), "embedding_model": "test",
                 "embedding_runtime": "test"}
                for n, vector in enumerate(vectors)
            ]
            await conn.execute(sa.insert(tables.knowledge_chunks), chunks)


async def test_retrieval_reads_every_chunk_of_a_small_table_and_the_index_of_a_large_one_at_the_depth_its_own_statement_sets(engine) -> None:
    rng = np.random.default_rng(5)
    vectors = _unit(rng.standard_normal((CHUNKS, tables.EMBEDDING_DIMENSIONS)))
    question = _unit(vectors[0] + 0.5 * rng.standard_normal(tables.EMBEDDING_DIMENSIONS))
    await _store_chunks(engine, vectors)
    nearest_first = [f"ready {n}" for n in np.argsort(-(vectors @ question))[:K]]

    found, index_scans = {}, {}
    scans = sa.text("SELECT pg_stat_get_xact_numscans('knowledge_chunks_embedding_hnsw'::regclass)")  # this transaction's, not yet flushed
    for rows in (CHUNKS * 2, 1_000_000):  # as VACUUM or ANALYZE counts it: an exact scan, then the index at depth_for's depth
        async with engine.connect() as conn:
            await conn.execute(sa.text("UPDATE pg_class SET reltuples = :rows WHERE relname = 'knowledge_chunks'"), {"rows": rows})
            for setting in PREFER_THE_INDEX:
                await conn.execute(sa.text(f"SET LOCAL {setting} = off"))
            before = (await conn.execute(scans)).scalar_one()
            found[rows] = await store.retrieve(conn, question.tolist(), K)
            index_scans[rows] = (await conn.execute(scans)).scalar_one() - before
            await conn.commit()

    async with db_engine.autocommit(engine) as conn:  # as a turn reads: the depth must hold within the search's own statement
        for setting in PREFER_THE_INDEX:
            await conn.execute(sa.text(f"SET {setting} = off"))
        in_autocommit = await store.retrieve(conn, question.tolist(), K)
        depth_after = (await conn.execute(sa.text("SELECT current_setting('hnsw.ef_search')"))).scalar_one()
        await conn.execute(sa.text("RESET ALL"))

    assert index_scans == {CHUNKS * 2: 0, 1_000_000: 1}
    for chunks in (*found.values(), in_autocommit):
        assert [c["content"] for c in chunks] == nearest_first  # at pgvector's depth of 40 the index would return 40 at most
        assert {c["filename"] for c in chunks} == {"ready.txt"}
    assert depth_after == "40"  # the depth the statement set ended with it
