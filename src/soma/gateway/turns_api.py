"""/v1/sessions/{id}/stop, /regenerate and PATCH …/messages/{id}: steering a chat's turns."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from soma import errors
from soma.conversations import stops, versions
from soma.gateway import access, bodies, openapi, params

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class EditedMessage(bodies.TextBody):
    """Body of PATCH /v1/sessions/{id}/messages/{message_id}."""


@router.post("/{session_id}/stop", responses={202: {"description": "The running answer is being stopped."}})
async def stop(request: Request, session_id: uuid.UUID, response: Response) -> dict[str, Any]:
    """Stop the chat's running answer (202; the partial answer is kept, `stopped` true) and remove its queued turns (200)."""
    async with request.app.state.engine.begin() as conn:
        result = await stops.request(conn, session_id, access.chat_owner_filter(request))
    if result["stopping"] is not None:
        response.status_code = 202
        return {**result, "detail": f"Stopping the answer to message {result['stopping']}."}
    if result["removed"]:
        return {**result, "detail": f"Removed {len(result['removed'])} queued turn(s)."}
    return {**result, "detail": "Nothing was running."}


@router.post("/{session_id}/regenerate", status_code=202, responses=openapi.raises(errors.NothingToRegenerate, errors.TurnInProgress))
async def regenerate(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
    """Answer the last user message again; the answer it replaces stays in the message's `versions`."""
    async with request.app.state.engine.begin() as conn:
        return await versions.regenerate(conn, session_id, access.chat_owner_filter(request))


@router.patch(
    "/{session_id}/messages/{message_id}",
    status_code=202,
    responses=openapi.raises(errors.MessageNotEditable, errors.TurnInProgress, errors.MessageTooLarge),
)
async def edit_message(request: Request, session_id: uuid.UUID, message_id: params.RowId, body: EditedMessage) -> dict[str, Any]:
    """Change the last user message and answer it again; what it said before stays in its `versions`."""
    limit = request.app.state.settings.max_message_chars
    if len(body.content) > limit:
        raise errors.MessageTooLarge(f"The message has {len(body.content)} characters; the limit is {limit}.")
    async with request.app.state.engine.begin() as conn:
        return await versions.edit(conn, session_id, message_id, body.content, access.chat_owner_filter(request))
