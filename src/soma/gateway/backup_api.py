"""/v1/backup: an admin downloads a backup, streamed as it is made from one consistent snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from soma.auth import admin
from soma.backup import create
from soma.gateway import access

router = APIRouter(prefix="/v1", tags=["backup"], dependencies=[Depends(access.require_admin)])


@router.get(
    "/backup",
    response_class=StreamingResponse,
    responses={200: {"description": "The archive.", "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def download(request: Request) -> StreamingResponse:
    """The archive (docs/backup-format.md), with constant memory and no temporary file; audited once sent whole.

    The length is unknown in advance: a download cut short lacks checksums.json and the end
    marker, and `soma backup verify` says so.
    """
    backup = create.Backup(request.app.state.engine)
    actor = admin.Actor(access.principal(request).actor, access.client_address(request))

    async def body() -> AsyncIterator[bytes]:
        async for chunk in backup.chunks():
            yield chunk
        await backup.record(actor, backup.filename)

    headers = {"Content-Disposition": f'attachment; filename="{backup.filename}"'}
    return StreamingResponse(body(), media_type="application/x-tar", headers=headers)
