"""Knowledge documents and chunks in PostgreSQL, and retrieval of the best chunks for a turn."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables

_d = tables.knowledge_documents
_c = tables.knowledge_chunks


async def retrieve(conn: AsyncConnection, vector: list[float], k: int) -> list[dict[str, Any]]:
    """The k chunks of ready documents most similar to vector, best first, with their document's name."""
    if k <= 0:
        return []
    distance = _c.c.embedding.cosine_distance(vector)
    rows = await conn.execute(
        sa.select(_c.c.id, _c.c.ordinal, _c.c.content, _d.c.id.label("document_id"), _d.c.filename, (1 - distance).label("similarity"))
        .join(_d, _d.c.id == _c.c.document_id)
        .where(_d.c.state == "ready")
        .order_by(distance)
        .limit(k)
    )
    return [
        {
            "chunk_id": r.id,
            "ordinal": r.ordinal,
            "content": r.content,
            "document_id": str(r.document_id),
            "filename": r.filename,
            "similarity": round(float(r.similarity), 4),
        }
        for r in rows
    ]


async def any_ready(conn: AsyncConnection) -> bool:
    """True when at least one document is indexed and ready."""
    return (await conn.execute(sa.select(sa.exists().where(_d.c.state == "ready")))).scalar_one()
