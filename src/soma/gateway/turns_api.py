"""/v1/sessions/{id}/stop, /regenerate, /approvals/{call_id} and PATCH …/messages/{id}: steering a chat's turns."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.audit import log as audit
from soma.conversations import approvals, stops, versions
from soma.gateway import access, bodies, openapi, params

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class EditedMessage(bodies.TextBody):
    """Body of PATCH /v1/sessions/{id}/messages/{message_id}."""


class ApprovalAnswer(BaseModel):
    """Body of POST /v1/sessions/{id}/approvals/{call_id}."""

    model_config = ConfigDict(extra="forbid")
    allow: bool = Field(description="true lets the call run; false denies it, and the agent reads that it was denied.")


# A call id as steps.call_id makes it (m<message>g<generation>s<step>c<index>); anything longer names no call.
CallId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


@router.post("/{session_id}/approvals/{call_id}", responses=openapi.raises(errors.ApprovalNotWaiting, errors.ApprovalDecided))
async def decide_approval(request: Request, session_id: uuid.UUID, call_id: CallId, body: ApprovalAnswer) -> dict[str, Any]:
    """Allow or deny a tool call waiting for approval (its `tool.approval` event); the first answer counts, and the audit log records it."""
    caller = access.principal(request)
    async with request.app.state.engine.begin() as conn:
        asked = await approvals.decide(conn, session_id, call_id, body.allow, caller.actor, access.chat_owner_filter(request))
        details = {"call_id": call_id, "server": asked["server"], "tool": asked["name"]}
        action = "tool.allowed" if body.allow else "tool.denied"
        await audit.record(conn, action, caller.actor, str(session_id), details, access.client_address(request))
    return {"call_id": call_id, "allow": body.allow, "server": asked["server"], "name": asked["name"], "decided_by": caller.actor}


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
