"""/v1/sessions/{id}/files: a chat's files (its workspace): list them, download one, delete one; the chat's owner or an admin.

A file is whatever a user attached or the agent's code wrote, so the gateway never lets a browser
run it as a page of Soma's origin: every file goes out as an attachment, `application/octet-stream`,
with `nosniff` and a policy that allows nothing (`default-src 'none'; sandbox`). The one exception
is an image Soma can vouch for by its signature, PNG or JPEG, which goes out as its type and, asked
with `?inline=true`, inline, so the web UI can show it. SVG holds script and is never inline.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from soma import errors
from soma.conversations import sessions
from soma.gateway import access, disposition, openapi
from soma.workspaces import paths, store

router = APIRouter(prefix="/v1/sessions", tags=["files"])

# Image types served as themselves, each known by its signature (its first bytes), never by its name.
VOUCHED = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
SIGNATURE_BYTES = max(map(len, VOUCHED))
OPAQUE = "application/octet-stream"
POLICY = "default-src 'none'; sandbox"  # nothing in a served file may load, run or navigate

DOWNLOAD_RESPONSES = {
    200: {
        "description": "The file's bytes: a PNG or JPEG as its type, anything else as application/octet-stream; always with nosniff.",
        "content": {OPAQUE: {}, "image/png": {}, "image/jpeg": {}},
    },
    **openapi.raises(errors.InvalidPath, errors.WorkspaceFileNotFound, errors.WorkspaceFileChanged),
}


@router.get("/{session_id}/files")
async def list_files(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
    """The chat's files, by path: `path`, `size` (bytes), `modified_at`, `sha256`."""
    async with request.app.state.engine.connect() as conn:
        await sessions.get(conn, session_id, owner=access.chat_owner_filter(request))
        return {"files": await store.listing(conn, session_id)}


@router.get("/{session_id}/files/{path:path}", response_class=StreamingResponse, responses=DOWNLOAD_RESPONSES)
async def download_file(
    request: Request,
    session_id: uuid.UUID,
    path: str,
    inline: bool = Query(False, description="Show a PNG or JPEG in the page (the web UI's images); any other file is an attachment still."),
) -> StreamingResponse:
    """One file, as an attachment under its own name, streamed from PostgreSQL."""
    engine = request.app.state.engine
    async with engine.connect() as conn:
        await sessions.get(conn, session_id, owner=access.chat_owner_filter(request))
        described = await store.describe(conn, session_id, path)
        media = _vouched(await store.head(conn, session_id, described, SIGNATURE_BYTES))
    shown = inline and media != OPAQUE
    headers = {
        "Content-Disposition": disposition.header(paths.name(described["path"]), "inline" if shown else "attachment"),
        "Content-Length": str(described["size"]),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": POLICY,
        "Cache-Control": "private, no-cache",  # the agent's code may rewrite the file at any time
    }
    return StreamingResponse(store.stream(engine, session_id, described), media_type=media, headers=headers)


@router.delete("/{session_id}/files/{path:path}", status_code=204, responses=openapi.raises(errors.InvalidPath, errors.WorkspaceFileNotFound))
async def delete_file(request: Request, session_id: uuid.UUID, path: str) -> Response:
    """Delete one file of the chat."""
    async with request.app.state.engine.begin() as conn:
        await sessions.get(conn, session_id, owner=access.chat_owner_filter(request))
        await store.remove(conn, session_id, path)
    return Response(status_code=204)


def _vouched(head: bytes) -> str:
    """image/png or image/jpeg when the file starts with that type's signature; application/octet-stream otherwise."""
    return next((media for signature, media in VOUCHED.items() if head.startswith(signature)), OPAQUE)
