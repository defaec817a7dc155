"""GET /v1/sessions/{id}/events: the session's event log as Server-Sent Events, resumable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from soma import errors
from soma.auth import ending
from soma.conversations import events, sessions
from soma.conversations.events import Event
from soma.gateway import access, params, sse
from soma.gateway.notifier import Subscription
from soma.gateway.stream_guard import StreamGuard
from soma.observability import metrics

router = APIRouter(prefix="/v1/sessions", tags=["events"])

BATCH = 500  # events read per query while catching up


@router.get("/{session_id}/events", response_class=StreamingResponse, responses={200: {"description": "Server-Sent Events.", "content": {"text/event-stream": {}}}})
async def stream_events(
    request: Request,
    session_id: uuid.UUID,
    after: params.Cursor | None = Query(None, description="Start after this event id (0: from the start)."),
    last_event_id: str | None = Header(None),
) -> StreamingResponse:
    """Every event after the starting point, then new ones as they are written.

    The stream ends with `stream.ended {"reason"}` when its credential ends (soma.auth.ending).
    """
    state = request.app.state
    principal = access.principal(request)
    guard = StreamGuard(state.engine, principal, state.settings.session_idle_seconds)
    async with state.engine.connect() as conn:
        await sessions.get(conn, session_id, owner=access.chat_owner_filter(request))
        if await guard.check(conn) is not None:  # ended since the request was authenticated
            raise errors.Unauthenticated("Your credential just ended (revoked, logged out or expired): log in again.")
    subscription = state.notifier.subscribe(str(session_id), ending.names_of(principal))
    cursor = sse.start_after(after, last_event_id)
    body = _follow(request, subscription, guard, session_id, cursor, state.settings.sse_keepalive_seconds)
    return StreamingResponse(body, media_type="text/event-stream", headers=sse.HEADERS)


async def _follow(
    request: Request, subscription: Subscription, guard: StreamGuard, session_id: uuid.UUID, cursor: int, keepalive: float
) -> AsyncIterator[bytes]:
    metrics.SSE_STREAMS_OPEN.inc()
    try:
        yield b"retry: 1000\n\n"
        while True:
            async for event in _from_table(request, session_id, cursor):
                yield sse.frame(event)
                cursor = event.id
            ready: list[Event] | None = []
            while ready is not None:  # None: NOTIFY cannot fill the gap, read the table
                for event in ready:
                    yield sse.frame(event)
                    cursor = event.id
                while not await subscription.wait(guard.wait_time(keepalive)):
                    if await request.is_disconnected():
                        return
                    yield sse.KEEPALIVE
                    await _recheck(subscription, guard)
                if subscription.recheck:  # the notifier reconnected: an announcement may have been missed
                    await _recheck(subscription, guard)
                last = _last_frame(subscription)
                if last is not None:
                    if last:
                        yield last
                    return
                ready = subscription.take(cursor)
    finally:
        metrics.SSE_STREAMS_OPEN.dec()
        subscription.close()


def _last_frame(subscription: Subscription) -> bytes | None:
    """What a stream that must end sends last (b"": nothing), or None while it goes on."""
    if subscription.locked:
        return b""  # the emergency lockdown: a reconnecting client gets 503 lockdown
    if subscription.restored is not None:
        return sse.restored(subscription.restored)
    if subscription.ended is not None:
        return sse.ended(subscription.ended)  # a reconnecting client gets 401
    return None


async def _recheck(subscription: Subscription, guard: StreamGuard) -> None:
    """End the subscription if its credential no longer holds."""
    subscription.recheck = False
    reason = await guard.recheck()
    if reason is not None:
        subscription.end(reason)


async def _from_table(request: Request, session_id: uuid.UUID, cursor: int) -> AsyncIterator[Event]:
    """The stored events after cursor, read in batches until caught up."""
    while True:
        async with request.app.state.engine.connect() as conn:
            batch = await events.after(conn, session_id, cursor, BATCH)
        for event in batch:
            yield event
            cursor = event.id
        if len(batch) < BATCH:
            return
