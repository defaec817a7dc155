"""pgvector HNSW search settings shared by memory recall and knowledge retrieval."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

# Candidates an HNSW scan keeps (pgvector's hnsw.ef_search; it returns at most this many rows).
# pgvector's default, 40, misses a vector unlike all the others: one fact among 1,000 clustered,
# unrelated memories was missed by 34 of 40 index builds at 40, and by none at 400. Recall
# matters more than the milliseconds: an index scan of 1,000 memories takes ~2.5 ms at 400
# (bench/memory_search.py has the figures up to 100,000).
EF_SEARCH = 400


async def widen_search(conn: AsyncConnection, ef_search: int | None = None) -> None:
    """Make this transaction's HNSW scans keep `ef_search` (default EF_SEARCH) candidates."""
    value = EF_SEARCH if ef_search is None else ef_search
    await conn.execute(sa.select(sa.func.set_config("hnsw.ef_search", str(value), True)))
