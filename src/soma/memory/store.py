"""Memories in PostgreSQL: store, find and recall by cosine similarity (pgvector HNSW)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables

_m = tables.memories


async def recall(conn: AsyncConnection, vector: list[float], k: int, threshold: float) -> list[dict[str, Any]]:
    """The k memories most similar to vector with cosine similarity >= threshold, best first."""
    distance = _m.c.embedding.cosine_distance(vector)
    rows = await conn.execute(
        sa.select(_m.c.id, _m.c.content, (1 - distance).label("similarity"))
        .order_by(distance)
        .limit(k)
    )
    return [{"id": r.id, "content": r.content, "similarity": round(float(r.similarity), 4)} for r in rows if r.similarity >= threshold]


async def any_stored(conn: AsyncConnection) -> bool:
    """True when at least one memory exists."""
    return (await conn.execute(sa.select(sa.exists().where(_m.c.id.isnot(None))))).scalar_one()
