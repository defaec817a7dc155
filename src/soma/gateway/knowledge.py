"""/v1/knowledge: upload, list, download and delete the files the agent answers from."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.gateway import access, uploads
from soma.knowledge import ingest, parsers, storage, store
from soma.settings import store as settings_store

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])

UPLOAD_PATH = "/v1/knowledge"  # streams its body to disk under its own limit (see limits.BodyLimit)
FIELD = "file"  # the multipart field that carries the file
MULTIPART_OVERHEAD = 64 * 1024  # bytes of framing and other fields a body may carry beside a file at the limit


@router.post("", status_code=202, dependencies=[Depends(access.require_admin)])
async def upload(request: Request, response: Response) -> dict[str, Any]:
    """Store a file and queue its indexing (202, state `pending`).

    Content already stored is not stored again: the answer is 200 with the existing document,
    under the name it was first uploaded with.
    """
    engine: AsyncEngine = request.app.state.engine
    data_dir: Path = request.app.state.settings.data_dir
    async with engine.connect() as conn:
        limit = (await settings_store.load(conn)).upload_max_bytes
    _refuse_by_length(request, limit)
    with storage.Upload(data_dir, limit) as upload:
        received = await uploads.receive(request, FIELD, upload.write, _accept)
        await asyncio.to_thread(upload.finish)
        filename = storage.clean_filename(received.filename)
        content_type = parsers.content_type_for(received.filename, received.content_type)
        try:
            async with engine.begin() as conn:
                document, created = await store.create(conn, upload, filename, content_type)
                if created:
                    await ingest.enqueue(conn, document["id"])
        except BaseException:
            if upload.kept:
                await _forget_file(engine, data_dir, upload.sha256)
            raise
    if not created:
        response.status_code = 200
    return document


@router.get("")
async def list_documents(request: Request) -> dict[str, Any]:
    """Every document, newest first, with its state."""
    async with request.app.state.engine.connect() as conn:
        return {"documents": await store.list_recent(conn)}


@router.get("/{document_id}")
async def get_document(request: Request, document_id: uuid.UUID) -> dict[str, Any]:
    """One document: its state and, when indexing failed, the reason in `error`."""
    async with request.app.state.engine.connect() as conn:
        return await store.get(conn, document_id)


@router.get("/{document_id}/content")
async def download(request: Request, document_id: uuid.UUID) -> FileResponse:
    """The original file, as an attachment under its uploaded name."""
    async with request.app.state.engine.connect() as conn:
        document = await store.get(conn, document_id)
    path = storage.existing_path(request.app.state.settings.data_dir, document["sha256"])
    # An uploaded HTML file must never run as a page of the gateway's origin.
    headers = {"X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=document["content_type"], filename=document["filename"], headers=headers)


@router.delete("/{document_id}", status_code=204, dependencies=[Depends(access.require_admin)])
async def delete_document(request: Request, document_id: uuid.UUID) -> Response:
    """Delete a document with its chunks, their vectors, and its file."""
    async with request.app.state.engine.begin() as conn:
        await store.delete(conn, request.app.state.settings.data_dir, document_id)
    return Response(status_code=204)


def _accept(received: uploads.Received) -> None:
    parsers.content_type_for(received.filename, received.content_type)  # UnsupportedFileType (415) before any byte


def _refuse_by_length(request: Request, limit: int) -> None:
    """FileTooLarge before reading a body whose declared length cannot hold a file within the limit."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + MULTIPART_OVERHEAD:
        raise errors.FileTooLarge(
            f"The request has {int(length)} bytes, more than a file within the {limit}-byte limit set by upload_max_bytes needs."
        )


async def _forget_file(engine: AsyncEngine, data_dir: Path, sha256: str) -> None:
    """Remove a file moved into place by an upload whose row did not commit, unless a document holds it."""
    try:
        async with engine.begin() as conn:
            await store.remove_unreferenced(conn, data_dir, sha256)
    except Exception:  # the database may be why the upload failed; a later upload of the content reuses the file
        log.warning("could not remove the file of a failed upload (%s)", sha256, exc_info=True)
