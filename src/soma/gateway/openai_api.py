"""GET /v1/models and POST /v1/chat/completions: the agent for any OpenAI client, its turns through Soma's queue and event log.

The request's last user message is posted to the chat its history continues
(soma.openai_compat.continuity), so the turn runs in a worker like any other and the chat shows in
Soma's UI. The answer is read back from the chat's events, through this gateway's notifier
(gateway/answer_wait.py, which /mcp's `ask` shares). Errors take OpenAI's shape (gateway/openai_errors.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from soma import errors
from soma.auth import ending
from soma.conversations import sessions
from soma.gateway import access, answer_wait, openapi, sse
from soma.gateway.notifier import Subscription
from soma.openai_compat import answer as answers
from soma.openai_compat import continuity, shapes

router = APIRouter(prefix="/v1", tags=["openai"])

STARTED = int(time.time())  # the model list's `created`: when this gateway started
DONE = b"data: [DONE]\n\n"


class ChatMessage(BaseModel):
    """One message of a request: text, or OpenAI's content parts of type text."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """Body of POST /v1/chat/completions, as OpenAI defines it; what Soma has no use for (temperature, tools, …) is ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="`soma`, from GET /v1/models.")
    messages: list[ChatMessage] = Field(min_length=1, description="The whole conversation, ending with the user's question.")
    stream: bool | None = Field(False, description="Stream the answer as Server-Sent Events of `chat.completion.chunk`s.")


COMPLETION = {
    200: {
        "description": "A `chat.completion`, or with `stream` a stream of `chat.completion.chunk`s ending with `data: [DONE]`.",
        "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": {"type": "string"}}},
    }
}
RAISES = (errors.ChatRequestInvalid, errors.ModelNotFound, errors.SessionNotFound, errors.MessageTooLarge)
RAISES += (errors.TurnRateLimited, errors.TurnFailed)


@router.get("/models")
async def list_models() -> dict[str, Any]:
    """The models an OpenAI client may name: the agent, `soma`."""
    return shapes.models(STARTED)


@router.post("/chat/completions", response_model=None, responses={**COMPLETION, **openapi.raises(*RAISES)})
async def chat_completions(
    request: Request,
    body: ChatRequest,
    x_soma_session: uuid.UUID | None = Header(None, description="Continue this chat, whatever history the request holds."),
) -> dict[str, Any] | Response:
    """Answer the last user message as the agent, in the chat the history continues (else a new chat of the caller's)."""
    if body.model != shapes.MODEL:
        raise errors.ModelNotFound(f"The model {body.model!r} does not exist.")
    said = continuity.conversation([(m.role, m.content) for m in body.messages])
    _within_limit(said, request.app.state.settings.max_message_chars)
    caller = access.principal(request)
    state = request.app.state
    async with state.engine.begin() as conn:
        if x_soma_session is not None:
            await sessions.get(conn, x_soma_session, owner=access.chat_owner_filter(request))
        posted = await continuity.post(conn, said, caller.owner, x_soma_session)
    subscription = state.notifier.subscribe(str(posted.session_id), ending.names_of(caller))
    log = answer_wait.after(state, subscription, posted.session_id, posted.event_id, request.is_disconnected)
    followed = answers.follow(log, posted.message["id"])
    if body.stream:
        return StreamingResponse(_stream(request, posted, followed, subscription), media_type="text/event-stream", headers=sse.HEADERS)
    try:
        answer = await answer_wait.answer(followed)
    finally:
        subscription.close()
    if answer is None:
        return Response(status_code=204)  # the client left; the answer is stored in the chat all the same
    return shapes.completion(shapes.completion_id(posted.message["id"]), int(time.time()), answer, await _extra(request, posted, answer))


def _within_limit(said: list[continuity.Said], limit: int) -> None:
    for n, message in enumerate(said):
        if len(message.content) > limit:
            size = len(message.content)
            raise errors.MessageTooLarge(f"Message {n + 1} of the conversation ({message.role}) has {size} characters; the limit is {limit}.")


async def _stream(
    request: Request, posted: continuity.Posted, followed: AsyncIterator[str | None | dict[str, Any]], subscription: Subscription
) -> AsyncIterator[bytes]:
    """The answer as OpenAI streams it: a role chunk, text chunks as the turn writes them, a last chunk, [DONE]."""
    id_, created = shapes.completion_id(posted.message["id"]), int(time.time())
    try:
        yield _data(shapes.chunk(id_, created, {"role": "assistant", "content": ""}))
        async for item in followed:
            if item is None:
                yield sse.KEEPALIVE
            elif isinstance(item, str):
                yield _data(shapes.chunk(id_, created, {"content": item}))
            else:
                yield _data(shapes.last_chunk(id_, created, item, await _extra(request, posted, item)))
    except errors.SomaError as exc:  # the status went out with the first chunk: OpenAI clients raise this error
        yield _data(shapes.error(exc.status_code, exc.code, exc.message))
    finally:
        subscription.close()
    yield DONE


def _data(document: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(document, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


async def _extra(request: Request, posted: continuity.Posted, answer: dict[str, Any]) -> dict[str, Any]:
    async with request.app.state.engine.connect() as conn:
        memories = await answers.recalled(conn, answer)
    return shapes.extra(str(posted.session_id), answer, memories)
