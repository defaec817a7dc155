"""/v1/sessions: chats and their messages; rename, delete, search and export."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from soma import errors
from soma.audit import log as audit
from soma.conversations import export, messages, search, sessions
from soma.db import engine as db_engine
from soma.gateway import access, bodies

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class NewSession(BaseModel):
    """Body of POST /v1/sessions."""

    model_config = ConfigDict(extra="forbid")
    title: bodies.Text | None = Field(None, max_length=200)


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


@router.post("", status_code=201)
async def create_session(request: Request, body: NewSession | None = None) -> dict[str, Any]:
    """Start a chat session."""
    async with request.app.state.engine.begin() as conn:
        return await sessions.create(conn, body.title if body else None, access.principal(request).owner)


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


@router.post("/{session_id}/messages", status_code=202)
async def post_message(request: Request, session_id: uuid.UUID, body: NewMessage) -> dict[str, Any]:
    """Store a user message and queue its turn; the answer arrives on the event stream."""
    limit = request.app.state.settings.max_message_chars
    if len(body.content) > limit:
        raise errors.MessageTooLarge(f"The message has {len(body.content)} characters; the limit is {limit}.")
    async with db_engine.autocommit(request.app.state.engine) as conn:  # one statement, its own transaction
        return await messages.post_user_message(conn, session_id, body.content, access.chat_owner_filter(request))
