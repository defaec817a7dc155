"""/v1/restores: an admin uploads a backup (staged and verified as it streams in), previews it, applies or discards it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Receive, Scope, Send

from soma import errors
from soma.agent_zero import convert
from soma.auth import admin
from soma.backup import apply, staged, staging, streams
from soma.db import restore_lock
from soma.gateway import access, openapi, restore_gate, uploads

router = APIRouter(prefix="/v1/restores", tags=["backup"], dependencies=[Depends(access.require_admin)])

UPLOAD_PATH = "/v1/restores"  # streams its body into PostgreSQL (see limits.BodyLimit)
FIELD = "file"
RECENT = 20  # restores listed by GET /v1/restores


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["overwrite", "preserve_settings"]


@router.post(
    "",
    status_code=201,
    responses=openapi.raises(errors.UploadCutOff),
    openapi_extra=openapi.file_upload(
        FIELD, "A backup made by `soma backup create` or GET /v1/backup, or an Agent Zero backup (.zip).", ["application/x-tar", "application/zip"]
    ),
)
async def upload(request: Request) -> dict[str, Any]:
    """Stage a backup while it uploads; 201 with its preview once the whole archive is verified.

    Nothing Soma serves changes. A bad archive is refused (422) as soon as its first bad entry
    arrives, and leaves no row behind; so does a cut-off upload. An Agent Zero backup is previewed
    as the chats, memories, knowledge files and settings it maps to (docs/runbooks/migrate-from-agent-zero.md).
    """
    pipe = streams.Pipe()
    names: list[str] = []
    work = asyncio.create_task(_stage(request, pipe, lambda: names[0] if names else "upload.tar"))
    try:
        await uploads.receive(request, FIELD, pipe.put, lambda part: names.append(uploads.clean_filename(part.filename)))
        await pipe.end()
    except errors.BackupInvalid:
        with contextlib.suppress(BaseException):
            await work  # ended with this same error
        await _discard_body(request)  # so the client reads the 422 instead of a connection reset mid-upload
        raise
    except BaseException:
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        raise
    return await work


async def _discard_body(request: Request) -> None:
    """Read and drop what is left of the request body (the stream itself was given up on)."""
    while True:
        message = await request.receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _stage(request: Request, pipe: streams.Pipe, filename: Callable[[], str]) -> dict[str, Any]:
    principal = access.principal(request)
    try:
        agent_zero = convert.AgentZero(request.app.state.embedder, principal.owner)
        return await staging.stage(request.app.state.engine, pipe, filename, principal.actor, agent_zero)
    except BaseException as exc:
        pipe.abandon(exc)  # the upload stops at its next chunk with this error
        raise


@router.get("")
async def list_restores(request: Request) -> dict[str, Any]:
    """The most recent restores, newest first: staged, applied or discarded."""
    async with request.app.state.engine.connect() as conn:
        return {"restores": [await staged.describe(conn, i) for i in await staged.recent(conn, RECENT)]}


@router.get("/{restore_id}")
async def get_restore(request: Request, restore_id: uuid.UUID) -> dict[str, Any]:
    """One restore, with its preview while it is staged."""
    async with request.app.state.engine.connect() as conn:
        return await staged.describe(conn, restore_id)


@router.post("/{restore_id}/apply", responses=openapi.raises(errors.RestoreNotStaged, errors.RestoreStale, errors.RestoreInProgress, errors.RestoreBusy))
async def apply_restore(request: Request, restore_id: uuid.UUID, body: ApplyRequest) -> dict[str, Any]:
    """Replace chats, memories and knowledge with the backup's (and the settings, with `overwrite`), all at once."""
    actor = admin.Actor(access.principal(request).actor, access.client_address(request))
    return await apply.apply(request.app.state.engine, restore_id, body.mode, actor)


@router.delete("/{restore_id}", status_code=204, responses=openapi.raises(errors.RestoreNotStaged))
async def discard(request: Request, restore_id: uuid.UUID) -> Response:
    """Drop a staged restore; nothing Soma serves changes."""
    actor = admin.Actor(access.principal(request).actor, access.client_address(request))
    async with request.app.state.engine.begin() as conn:
        await staged.discard(conn, restore_id, actor.name)
        await actor.record(conn, "backup.restore.discarded", str(restore_id))
    return Response(status_code=204)


class Gate:
    """503 restore_in_progress, with Retry-After, for writes to what a restore is replacing right now."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and restore_gate.guards(scope["method"], scope["path"]):
            await restore_lock.check(scope["app"].state.engine)  # RestoreInProgress, rendered by gateway/error_shape.py's Catch
        await self.app(scope, receive, send)
