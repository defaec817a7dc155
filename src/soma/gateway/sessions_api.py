"""/v1/sessions: chats and their messages; rename, delete, search and export."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from soma import errors
from soma.audit import log as audit
from soma.conversations import export, messages, search, sessions
from soma.db import engine as db_engine
from soma.gateway import access, bodies, message_form, openapi
from soma.workspaces import attachments

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class NewSession(BaseModel):
    """Body of POST /v1/sessions."""

    model_config = ConfigDict(extra="forbid")
    title: bodies.Text | None = Field(None, max_length=200)
    profile: bodies.Text | None = Field(
        None, max_length=200, description="The agent profile its turns run with (GET /v1/profiles); left out: `assistant` while it exists."
    )


class SessionChange(BaseModel):
    """Body of PATCH /v1/sessions/{id}: the new title, trimmed, with its whitespace collapsed."""

    model_config = ConfigDict(extra="forbid")
    title: bodies.Text = Field(min_length=1, max_length=sessions.MAX_TITLE_CHARS, json_schema_extra={"pattern": r"\S"})

    @field_validator("title")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        if not (collapsed := " ".join(value.split())):
            raise ValueError("title must not be empty")
        return collapsed


class NewMessage(bodies.TextBody):
    """Body of POST /v1/sessions/{id}/messages."""


@router.post("", status_code=201, responses=openapi.raises(errors.UnknownProfile))
async def create_session(request: Request, body: NewSession | None = None) -> dict[str, Any]:
    """Start a chat session, run with the agent profile named (422 when none has that name)."""
    body = body or NewSession()
    async with request.app.state.engine.begin() as conn:
        return await sessions.create(conn, body.title, access.principal(request).owner, body.profile)


@router.get("")
async def list_sessions(
    request: Request,
    query: str | None = Query(
        None, max_length=search.MAX_QUERY_CHARS, description="Find chats by the words of their titles and messages, best match first."
    ),
) -> dict[str, Any]:
    """Sessions, most recently active first (or best match first with `query`): the caller's own, or every one for admins."""
    owner = access.chat_owner_filter(request)
    async with request.app.state.engine.connect() as conn:
        if query is not None and query.strip():
            return {"sessions": await search.find(conn, query, owner=owner)}
        return {"sessions": await sessions.list_recent(conn, owner=owner)}


@router.get("/{session_id}")
async def get_session(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
    """One session."""
    async with request.app.state.engine.connect() as conn:
        return await sessions.get(conn, session_id, owner=access.chat_owner_filter(request))


@router.patch("/{session_id}")
async def rename_session(request: Request, session_id: uuid.UUID, body: SessionChange) -> dict[str, Any]:
    """Rename a chat; its open streams get `session.updated`."""
    async with request.app.state.engine.begin() as conn:
        return await sessions.rename(conn, session_id, body.title, access.chat_owner_filter(request))


@router.delete("/{session_id}", status_code=204)
async def delete_session(request: Request, session_id: uuid.UUID) -> Response:
    """Delete a chat with its messages, events and queued turns (a running one stops); the audit log records it."""
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        session = await sessions.delete(conn, session_id, access.chat_owner_filter(request))
        details = {"title": session["title"]}
        await audit.record(conn, "session.deleted", caller.actor, str(session_id), details, access.client_address(request))
    return Response(status_code=204)


@router.get(
    "/{session_id}/export",
    response_class=Response,
    responses={200: {"description": "The chat as a file.", "content": {"text/markdown": {}, "application/json": {}}}},
)
async def export_session(
    request: Request, session_id: uuid.UUID, format_: Literal["markdown", "json"] = Query("markdown", alias="format")
) -> Response:
    """The whole chat as a download: Markdown to read, or JSON with every message, its citations and earlier versions."""
    async with request.app.state.engine.connect() as conn:
        chat = await export.as_json(conn, session_id, access.chat_owner_filter(request))
    body = export.markdown(chat) if format_ == "markdown" else json.dumps(chat, ensure_ascii=False)
    headers = {"Content-Disposition": f'attachment; filename="{export.filename(chat, format_)}"'}
    return Response(body, media_type=export.MEDIA_TYPES[format_], headers=headers)


@router.get("/{session_id}/messages")
async def list_messages(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
    """A session's messages, oldest first."""
    async with request.app.state.engine.connect() as conn:
        return {"messages": await messages.list_for_session(conn, session_id, access.chat_owner_filter(request))}


MESSAGES_PATH = re.compile(r"/v1/sessions/[^/]+/messages")  # multipart bodies here carry files: limits.BodyLimit allows them more
MESSAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": NewMessage.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        message_form.CONTENT: {"type": "string", "description": "The message's text; may be empty when it carries files."},
                        message_form.FILES: {
                            "type": "array",
                            "maxItems": attachments.MAX_FILES,
                            "items": {"type": "string", "format": "binary"},
                            "description": "Files for the chat's workspace, each under its file name; the text of text files and PDFs goes into the turn.",
                        },
                    },
                }
            },
        },
    }
}
POST_ERRORS = (
    errors.MessageTooLarge, errors.AttachmentTooLarge, errors.AttachmentsTooLarge, errors.TooManyAttachments, errors.WorkspaceFull,
    errors.InvalidPath, errors.DuplicateAttachment, errors.UploadCutOff,
)  # fmt: skip


@router.post("/{session_id}/messages", status_code=202, openapi_extra=MESSAGE_BODY, responses=openapi.raises(*POST_ERRORS))
async def post_message(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
    """Store a user message and queue its turn; the answer arrives on the event stream.

    As multipart/form-data, `content` and one or more `files`: the files land in the chat's files
    (GET /v1/sessions/{id}/files) in the same transaction as the message, so a file refused stores
    nothing; the message's `meta.attachments` lists them, with the text of each its turn reads.
    """
    limit = request.app.state.settings.max_message_chars
    posted = await message_form.read(request, NewMessage, limit)
    if len(posted.content) > limit:
        raise errors.MessageTooLarge(f"The message has {len(posted.content)} characters; the limit is {limit}.")
    owner = access.chat_owner_filter(request)
    if posted.files:
        described = await attachments.prepare(posted.files)  # before a connection is taken: it can take a while
        async with request.app.state.engine.begin() as conn:
            return await messages.post_with_files(conn, session_id, posted.content, posted.files, described, owner)
    async with db_engine.autocommit(request.app.state.engine) as conn:  # one statement, its own transaction
        return await messages.post_user_message(conn, session_id, posted.content, owner)
