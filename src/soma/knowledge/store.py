"""Knowledge documents and chunks in PostgreSQL, and retrieval of the best chunks for a turn."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import hnsw, tables
from soma.embeddings.embedder import Embedder
from soma.knowledge import blobs

_d = tables.knowledge_documents
_c = tables.knowledge_chunks
_COLUMNS = (
    _d.c.id, _d.c.filename, _d.c.content_type, _d.c.size_bytes, _d.c.sha256, _d.c.state, _d.c.error,
    _d.c.chunk_count, _d.c.created_at, _d.c.updated_at,
)

# Serialises everything that creates or deletes the blob of one content (the key's argument is the
# sha256), so a delete never removes the bytes an upload of the same content has just filed.
_LOCK_CONTENT = sa.text("SELECT pg_advisory_xact_lock(hashtextextended('soma.knowledge:' || :sha256, 0))")


async def lock_content(conn: AsyncConnection, sha256: str) -> None:
    """Hold the lock on one content's blob until the caller's transaction ends (see _LOCK_CONTENT)."""
    await conn.execute(_LOCK_CONTENT, {"sha256": sha256})


def as_dict(row: Any) -> dict[str, Any]:
    """A document as the API shows it; `error` says why indexing failed, else it is null."""
    return {
        "id": str(row.id),
        "filename": row.filename,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "state": row.state,
        "error": row.error,
        "chunk_count": row.chunk_count,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def create(conn: AsyncConnection, upload: blobs.Writer, filename: str, content_type: str) -> tuple[dict[str, Any], bool]:
    """The document for a finished upload, and whether it is new, in the upload's transaction.

    New content gets a `pending` row and its bytes filed under their SHA-256; the caller queues its
    ingestion and commits. Content already stored returns its existing document: the caller rolls
    back, which drops this upload's bytes.
    """
    await lock_content(conn, upload.sha256)
    existing = (await conn.execute(sa.select(*_COLUMNS).where(_d.c.sha256 == upload.sha256))).one_or_none()
    if existing is not None:
        return as_dict(existing), False
    await upload.keep()
    values = {"filename": filename, "content_type": content_type, "size_bytes": upload.size, "sha256": upload.sha256}
    row = (await conn.execute(sa.insert(_d).values(**values).returning(*_COLUMNS))).one()
    return as_dict(row), True


async def get(conn: AsyncConnection, document_id: uuid.UUID) -> dict[str, Any]:
    """One document; DocumentNotFound when it does not exist."""
    row = (await conn.execute(sa.select(*_COLUMNS).where(_d.c.id == document_id))).one_or_none()
    if row is None:
        raise errors.DocumentNotFound(f"Document '{document_id}' does not exist.")
    return as_dict(row)


async def list_recent(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every document, newest first."""
    rows = await conn.execute(sa.select(*_COLUMNS).order_by(_d.c.created_at.desc(), _d.c.id))
    return [as_dict(r) for r in rows]


async def delete(conn: AsyncConnection, document_id: uuid.UUID) -> None:
    """Delete a document, its chunks (with their vectors) and, unless another document uses them, its bytes.

    DocumentNotFound when it does not exist.
    """
    document = await get(conn, document_id)
    await lock_content(conn, document["sha256"])
    deleted = (await conn.execute(sa.delete(_d).where(_d.c.id == document_id).returning(_d.c.sha256))).one_or_none()
    if deleted is None:
        raise errors.DocumentNotFound(f"Document '{document_id}' does not exist.")  # deleted meanwhile
    await blobs.remove_unreferenced(conn, deleted.sha256)


async def start_indexing(conn: AsyncConnection, document_id: uuid.UUID) -> dict[str, Any] | None:
    """Mark a document `indexing` and return it; None when it is gone or already `ready`."""
    query = (
        sa.update(_d)
        .where(_d.c.id == document_id, _d.c.state != "ready")
        .values(state="indexing", error=None, updated_at=sa.func.now())
        .returning(*_COLUMNS)
    )
    row = (await conn.execute(query)).one_or_none()
    return as_dict(row) if row else None


async def finish_indexing(
    conn: AsyncConnection, document_id: uuid.UUID, chunks: list[str], vectors: list[list[float]], model_id: str, runtime: str
) -> bool:
    """Store a document's chunks, made by the embedder (model_id, runtime), and mark it `ready`, in the caller's transaction; False when it was deleted meanwhile."""
    query = (
        sa.update(_d)
        .where(_d.c.id == document_id, _d.c.state == "indexing")
        .values(state="ready", error=None, chunk_count=len(chunks), updated_at=sa.func.now())
        .returning(_d.c.id)
    )
    if (await conn.execute(query)).one_or_none() is None:  # the update row-locks it: no delete runs in between
        return False
    rows = [
        {"document_id": document_id, "ordinal": n, "content": text, "embedding": vector,
         "embedding_model": model_id, "embedding_runtime": runtime}
        for n, (text, vector) in enumerate(zip(chunks, vectors, strict=True))
    ]
    await conn.execute(sa.insert(_c), rows)
    return True


async def fail_indexing(conn: AsyncConnection, document_id: uuid.UUID, reason: str) -> None:
    """Mark a document `failed` with the reason, unless it is gone."""
    await conn.execute(
        sa.update(_d).where(_d.c.id == document_id).values(state="failed", error=reason, updated_at=sa.func.now())
    )


async def retrieve(conn: AsyncConnection, vector: list[float], k: int) -> list[dict[str, Any]]:
    """The k chunks of ready documents most similar to vector, best first, with their document's name."""
    if k <= 0:
        return []
    rows = await hnsw.nearest(conn, _retrieved(k), {"question": vector})
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


async def search(conn: AsyncConnection, embedder: Embedder, text: str, k: int) -> list[dict[str, Any]]:
    """The k chunks of ready documents most similar to text, as `retrieve` gives them; no embedding when none is ready."""
    if not await any_ready(conn):
        return []
    [vector] = await embedder.embed([text])
    return await retrieve(conn, vector, k)


@functools.lru_cache(maxsize=64)
def _retrieved(k: int) -> hnsw.Search:
    """The `k` chunks of ready documents nearest the question (bound when it runs), with their document's name; built once per k."""
    distance = _c.c.embedding.cosine_distance(sa.bindparam("question", type_=_c.c.embedding.type))
    chunks = (
        sa.select(_c.c.id, _c.c.ordinal, _c.c.content, _d.c.id.label("document_id"), _d.c.filename, (1 - distance).label("similarity"))
        .join(_d, _d.c.id == _c.c.document_id)
        .where(_d.c.state == "ready")
    )
    return hnsw.search(chunks, _c, distance, k)


async def any_ready(conn: AsyncConnection) -> bool:
    """True when at least one document is indexed and ready (a turn asks it in its start read, conversations/question.py)."""
    return (await conn.execute(sa.select(sa.exists().where(_d.c.state == "ready")))).scalar_one()
