"""/v1/knowledge: upload, list, download and delete the files the agent answers from."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.gateway import access, disposition, openapi, uploads
from soma.knowledge import blobs, ingest, parsers, store
from soma.settings import store as settings_store

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])

UPLOAD_PATH = "/v1/knowledge"  # streams its body into PostgreSQL under its own limit (see limits.BodyLimit)
FIELD = "file"  # the multipart field that carries the file
MULTIPART_OVERHEAD = 64 * 1024  # bytes of framing and other fields a body may carry beside a file at the limit


UPLOAD_RESPONSES = {
    200: {
        "description": "The content was stored already: the existing document, under the name it was first uploaded with.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    **openapi.raises(errors.UploadCutOff, errors.FileTooLarge, errors.UnsupportedFileType),
}


@router.post(
    "",
    status_code=202,
    dependencies=[Depends(access.require_admin)],
    responses=UPLOAD_RESPONSES,
    openapi_extra=openapi.file_upload(FIELD, "The file; GET /v1/meta lists the suffixes Soma reads.", parsers.EXTENSIONS),
)
async def upload(request: Request, response: Response) -> dict[str, Any]:
    """Store a file and queue its indexing (202, state `pending`).

    Content already stored is not stored again: the answer is 200 with the existing document,
    under the name it was first uploaded with.
    """
    engine: AsyncEngine = request.app.state.engine
    async with engine.connect() as conn:
        limit = (await settings_store.load(conn)).upload_max_bytes
    _refuse_by_length(request, limit)
    # One transaction from the first byte to the queued job: an upload that does not get to the
    # commit (client gone, over the limit, gateway killed) leaves no rows. It holds one pooled
    # connection while the body streams in.
    async with engine.connect() as conn:
        upload = blobs.Writer(conn, limit)
        received = await uploads.receive(request, FIELD, upload.write, _accept)
        await upload.finish()
        filename = uploads.clean_filename(received.filename)
        content_type = parsers.content_type_for(received.filename, received.content_type)
        document, created = await store.create(conn, upload, filename, content_type)
        if created:
            await ingest.enqueue(conn, document["id"])
            await conn.commit()
        else:
            await conn.rollback()  # the content is stored already: drop this copy of its bytes
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


@router.get(
    "/{document_id}/content",
    response_class=StreamingResponse,
    # No schema: the bytes are the file's, whatever the type it was uploaded as (a "text" upload may be binary).
    responses={200: {"description": "The file's bytes, as the type it was stored as.", "content": {"*/*": {}}}},
)
async def download(request: Request, document_id: uuid.UUID) -> StreamingResponse:
    """The original file, as an attachment under its uploaded name, streamed from PostgreSQL piece by piece."""
    engine: AsyncEngine = request.app.state.engine
    async with engine.connect() as conn:
        document = await store.get(conn, document_id)
    headers = {
        "Content-Disposition": disposition.header(document["filename"]),
        "Content-Length": str(document["size_bytes"]),
        # An uploaded HTML file must never run as a page of the gateway's origin.
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(blobs.stream(engine, document["sha256"]), media_type=document["content_type"], headers=headers)


@router.delete("/{document_id}", status_code=204, dependencies=[Depends(access.require_admin)])
async def delete_document(request: Request, document_id: uuid.UUID) -> Response:
    """Delete a document with its chunks, their vectors, and its file's bytes."""
    async with request.app.state.engine.begin() as conn:
        await store.delete(conn, document_id)
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
