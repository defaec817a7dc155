"""Ingesting a knowledge document: parse, chunk, embed and index it, as a background job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.db import jobs
from soma.embeddings.embedder import Embedder
from soma.knowledge import blobs, chunking, parsers, store

log = logging.getLogger(__name__)

QUEUE = "knowledge"
TASK_NAME = "soma.knowledge.ingest"
EMBED_BATCH = 64  # chunks per embedding call: bounds each call's memory and lets a shutdown cancel between calls


async def enqueue(conn: AsyncConnection, document_id: str) -> int:
    """Queue the ingestion of a new document in the caller's transaction; returns the job id."""
    return await jobs.defer(conn, QUEUE, TASK_NAME, {"document_id": document_id}, lock=f"knowledge:{document_id}")


async def run(engine: AsyncEngine, embedder: Embedder, document_id: uuid.UUID) -> str:
    """Index one document; returns the outcome (`ready`, `failed`, `skipped`).

    The chunks and the state `ready` commit together, so a document that fails keeps no chunks.
    A file that cannot be parsed ends `failed` with the reason; any other error also marks the
    document `failed`, then propagates so the job is retried.
    """
    async with engine.begin() as conn:
        document = await store.start_indexing(conn, document_id)
    if document is None:
        return "skipped"  # deleted, or indexed by an earlier run of this job
    try:
        chunks = await _chunks(engine, document)
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), EMBED_BATCH):
            vectors += await embedder.embed(chunks[start : start + EMBED_BATCH])
        async with engine.begin() as conn:
            indexed = await store.finish_indexing(conn, document_id, chunks, vectors, embedder.model_id, embedder.runtime)
    except errors.ParseError as exc:
        log.info("document %s (%s) failed: %s", document_id, document["filename"], exc.message)
        await _fail(engine, document_id, exc.message)
        return "failed"
    except Exception as exc:
        reason = (
            f"Indexing stopped by an unexpected error ({type(exc).__name__}: {exc}). The worker tries such "
            "errors a few times before the document stays failed; its log has the details."
        )
        await _fail(engine, document_id, reason)
        raise
    if not indexed:
        return "skipped"  # deleted while it was being indexed
    log.info("document %s (%s) indexed: %d chunks", document_id, document["filename"], len(chunks))
    return "ready"


async def _chunks(engine: AsyncEngine, document: dict[str, Any]) -> list[str]:
    # Parsers need the whole file (a PDF's index is at its end), so it is assembled in memory:
    # at most upload_max_bytes, for one job at a time per worker slot.
    async with engine.connect() as conn:
        data = await blobs.read(conn, document["sha256"])
    text = await asyncio.to_thread(parsers.extract, data, document["content_type"])
    chunks = chunking.split(text)
    if not chunks:
        raise errors.ParseError("The file has no text.")
    return chunks


async def _fail(engine: AsyncEngine, document_id: uuid.UUID, reason: str) -> None:
    async with engine.begin() as conn:
        await store.fail_indexing(conn, document_id, reason)
