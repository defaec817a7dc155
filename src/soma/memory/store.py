"""Memories in PostgreSQL: store, find and recall by cosine similarity (pgvector HNSW)."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import hnsw, tables
from soma.embeddings.embedder import Embedder

MAX_CHARS = 4000  # per memory: a fact, not a document (documents go to knowledge); errors.MemoryTooLarge says 4000
# Cosine similarity at or above which a new memory restates an existing one: the existing one
# takes the new wording instead of a second row. 0.9 joins rewordings ("my favourite colour is
# teal" / "My favorite color is teal.", 0.97) and keeps related facts apart ("… teal" / "… blue", 0.71).
MERGE_SIMILARITY = 0.9
DEFAULT_PAGE = 20  # memories per page or search, unless asked
MAX_PAGE = 100
SOURCES = ("user", "agent")  # 'user': through the API; 'agent': the remember tool or "remember that …"

_m = tables.memories
_COLUMNS = (_m.c.id, _m.c.content, _m.c.source, _m.c.embedding_model, _m.c.created_at, _m.c.updated_at)
_WRITES_LOCK = 0x736F6D61  # advisory lock key ('soma'): one memory write at a time, so duplicates merge
# The vector a search looks for, bound when it runs: each search is built once (per k) and reused
# (hnsw.search).
_QUESTION = sa.bindparam("question", type_=_m.c.embedding.type)
_DISTANCE = _m.c.embedding.cosine_distance(_QUESTION)
_SIMILARITY = (1 - _DISTANCE).label("similarity")


def as_dict(row: Any) -> dict[str, Any]:
    """A memory as the API shows it."""
    return {
        "id": row.id,
        "content": row.content,
        "source": row.source,
        "embedding_model": row.embedding_model,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def create(conn: AsyncConnection, embedder: Embedder, content: str, source: str) -> dict[str, Any]:
    """Store a memory, or merge it into a near-duplicate; the result's `merged` says which.

    A near-duplicate (cosine similarity >= MERGE_SIMILARITY) takes the new content, since a
    restated fact is usually the newer truth ("the meeting is on Wednesday" after "… Tuesday").
    """
    content = _checked(content)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    [vector] = await embedder.embed([content])
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_WRITES_LOCK)))
    found = await hnsw.nearest(conn, _restated(), {"question": vector})
    nearest = found[0] if found else None
    values = {"content": content, "embedding": vector, "embedding_model": embedder.model_id, "embedding_runtime": embedder.runtime}
    merged = nearest is not None and nearest.similarity >= MERGE_SIMILARITY
    if merged:
        query = sa.update(_m).where(_m.c.id == nearest.id).values(**values, updated_at=sa.func.now())
    else:
        query = sa.insert(_m).values(**values, source=source)
    row = (await conn.execute(query.returning(*_COLUMNS))).one()
    return {**as_dict(row), "merged": merged}


async def get(conn: AsyncConnection, memory_id: int) -> dict[str, Any]:
    """One memory; MemoryNotFound when it does not exist."""
    row = (await conn.execute(sa.select(*_COLUMNS).where(_m.c.id == memory_id))).one_or_none()
    if row is None:
        raise errors.MemoryNotFound(f"Memory {memory_id} does not exist.")
    return as_dict(row)


async def list_page(conn: AsyncConnection, limit: int = DEFAULT_PAGE, before: int | None = None) -> dict[str, Any]:
    """Up to `limit` memories, newest first, older than id `before`; `next` is the `before` of the next page, or None."""
    query = sa.select(*_COLUMNS).order_by(_m.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(_m.c.id < before)
    rows = (await conn.execute(query)).all()
    page = [as_dict(r) for r in rows[:limit]]
    return {"memories": page, "next": page[-1]["id"] if len(rows) > limit else None}


async def search(conn: AsyncConnection, embedder: Embedder, text: str, limit: int = DEFAULT_PAGE) -> list[dict[str, Any]]:
    """The `limit` memories most similar to text, best first, each with its cosine `similarity`."""
    if not text.strip():
        raise errors.InvalidMemory("The search text is empty.")
    [vector] = await embedder.embed([text])
    rows = await hnsw.nearest(conn, _found(limit), {"question": vector})
    return [{**as_dict(r), "similarity": round(float(r.similarity), 4)} for r in rows]


async def update(conn: AsyncConnection, embedder: Embedder, memory_id: int, content: str) -> dict[str, Any]:
    """Replace a memory's content and embedding; MemoryNotFound when it does not exist."""
    content = _checked(content)
    [vector] = await embedder.embed([content])
    row = (
        await conn.execute(
            sa.update(_m)
            .where(_m.c.id == memory_id)
            .values(content=content, embedding=vector, embedding_model=embedder.model_id, embedding_runtime=embedder.runtime, updated_at=sa.func.now())
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is None:
        raise errors.MemoryNotFound(f"Memory {memory_id} does not exist.")
    return as_dict(row)


async def delete(conn: AsyncConnection, memory_id: int) -> dict[str, Any]:
    """Delete a memory and return what it held; MemoryNotFound when it does not exist."""
    row = (await conn.execute(sa.delete(_m).where(_m.c.id == memory_id).returning(*_COLUMNS))).one_or_none()
    if row is None:
        raise errors.MemoryNotFound(f"Memory {memory_id} does not exist.")
    return as_dict(row)


async def recall(conn: AsyncConnection, vector: list[float], k: int, threshold: float) -> list[dict[str, Any]]:
    """The k memories most similar to vector with cosine similarity >= threshold, best first."""
    rows = await hnsw.nearest(conn, _recalled(k), {"question": vector})
    return [{"id": r.id, "content": r.content, "similarity": round(float(r.similarity), 4)} for r in rows if r.similarity >= threshold]


async def any_stored(conn: AsyncConnection) -> bool:
    """True when at least one memory exists (a turn asks it in its start read, conversations/question.py)."""
    return (await conn.execute(sa.select(sa.exists().where(_m.c.id.isnot(None))))).scalar_one()


@functools.cache
def _restated() -> hnsw.Search:
    """The memory nearest the question, if any: the one a new memory may restate."""
    return hnsw.search(sa.select(_m.c.id, _SIMILARITY), _m, _DISTANCE, 1)


@functools.lru_cache(maxsize=MAX_PAGE)
def _found(limit: int) -> hnsw.Search:
    """The `limit` memories nearest the question, as a search shows them."""
    return hnsw.search(sa.select(*_COLUMNS, _SIMILARITY), _m, _DISTANCE, limit)


@functools.lru_cache(maxsize=MAX_PAGE)
def _recalled(k: int) -> hnsw.Search:
    """The `k` memories nearest the question, as a turn recalls them."""
    return hnsw.search(sa.select(_m.c.id, _m.c.content, _SIMILARITY), _m, _DISTANCE, k)


def _checked(content: str) -> str:
    content = content.strip()
    if not content:
        raise errors.InvalidMemory("The content is empty.")
    if len(content) > MAX_CHARS:
        raise errors.MemoryTooLarge(f"The memory has {len(content)} characters.")
    return content
