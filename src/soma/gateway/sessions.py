"""/v1/sessions and their messages."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.conversations import messages, sessions
from soma.gateway import access, bodies

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class NewSession(BaseModel):
    """Body of POST /v1/sessions."""

    model_config = ConfigDict(extra="forbid")
    title: bodies.Text | None = Field(None, max_length=200)


class NewMessage(bodies.TextBody):
    """Body of POST /v1/sessions/{id}/messages."""


@router.post("", status_code=201)
async def create_session(request: Request, body: NewSession | None = None) -> dict[str, Any]:
    """Start a chat session."""
    async with request.app.state.engine.begin() as conn:
        return await sessions.create(conn, body.title if body else None, access.principal(request).owner)


@router.get("")
async def list_sessions(request: Request) -> dict[str, Any]:
    """Sessions, most recently active first: the caller's own, or every one for admins."""
    async with request.app.state.engine.connect() as conn:
        return {"sessions": await sessions.list_recent(conn, owner=access.chat_owner_filter(request))}


@router.get("/{session_id}")
async def get_session(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
    """One session."""
    async with request.app.state.engine.connect() as conn:
        return await sessions.get(conn, session_id, owner=access.chat_owner_filter(request))


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
    async with request.app.state.engine.begin() as conn:
        return await messages.post_user_message(conn, session_id, body.content, access.chat_owner_filter(request))
