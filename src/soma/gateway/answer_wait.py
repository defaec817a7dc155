"""Waiting for a question's answer: its chat's events as they are written, read through this gateway's notifier.

The routes that answer with the agent's reply instead of streaming the chat (the OpenAI-compatible
API, the `ask` tool of /mcp) post the question, subscribe to its chat, and read the events after
the question's own here; soma.openai_compat.answer.follow picks out that question's text and answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.datastructures import State

from soma import errors
from soma.conversations import events, sessions
from soma.conversations.events import Event
from soma.gateway.notifier import Subscription

BATCH = 500  # events read per query

Gone = Callable[[], Awaitable[bool]]  # True once the caller has left: the wait ends quietly
Heard = Callable[[str | None], Awaitable[None]]  # told each piece of text (None: a quiet keep-alive interval)


async def after(state: State, subscription: Subscription, session_id: uuid.UUID, cursor: int, gone: Gone) -> AsyncIterator[Event | None]:
    """The chat's events after `cursor`, as they are written; None after each quiet keep-alive interval.

    `subscription` must be taken before the question is read back, so nothing falls in between.
    Ends when `gone()` says the caller left; raises when the chat, the credential or the gateway's
    service ends meanwhile.
    """
    batch = await _stored(state, session_id, cursor)
    while True:
        for event in batch:
            yield event
            cursor = event.id
        if len(batch) == BATCH:
            batch = await _stored(state, session_id, cursor)
        elif await subscription.wait(state.settings.sse_keepalive_seconds):
            _still_on(subscription)
            batch = subscription.take(cursor)
            if batch is None:  # NOTIFY could not carry it all: read the table
                batch = await _stored(state, session_id, cursor)
        else:
            if await gone():
                return
            yield None
            batch = await _stored(state, session_id, cursor, present=True)


async def answer(followed: AsyncIterator[str | None | dict[str, Any]], heard: Heard | None = None) -> dict[str, Any] | None:
    """The stored answer, once the turn ends (None when the caller left first); `heard` is told what came meanwhile."""
    async for item in followed:
        if isinstance(item, dict):
            return item
        if heard is not None:
            await heard(item)
    return None


async def _stored(state: State, session_id: uuid.UUID, cursor: int, present: bool = False) -> list[Event]:
    """The stored events after cursor; with `present`, SessionNotFound when the chat was deleted meanwhile."""
    async with state.engine.connect() as conn:
        if present:
            await sessions.get(conn, session_id)
        return await events.after(conn, session_id, cursor, BATCH)


def _still_on(subscription: Subscription) -> None:
    """Raise what ended the wait for the answer: the lockdown, a restore, or the caller's credential."""
    if subscription.locked:
        raise errors.Lockdown()
    if subscription.restored is not None:
        raise errors.SessionNotFound("A restore replaced every chat while the answer was on its way.")
    if subscription.ended is not None:
        raise errors.Unauthenticated(f"Your credential ended ({subscription.ended}) while the answer was on its way.")
