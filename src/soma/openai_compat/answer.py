"""Following one question's turn through its chat's events: the text as it grows, then the answer or why there is none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.conversations import events
from soma.conversations.events import Event
from soma.memory import store as memory

# What a turn removed from the queue before it started (a stop in Soma's UI) answers: nothing.
CANCELLED = {"id": None, "content": "", "meta": {"stopped": True}, "citations": [], "stopped": True}


class Sent:
    """The text a client has been sent: only ever extended, so an answer the SLM started again never repeats or contradicts it.

    A retry after text was streamed starts the answer over (`turn.started` again); its text goes
    out only from where it passes what was sent, and only when it agrees with it.
    """

    def __init__(self) -> None:
        self.text = ""
        self._current = ""

    def restart(self) -> None:
        self._current = ""

    def add(self, piece: str) -> str:
        """The current attempt grew by `piece`: what to send now (may be empty)."""
        self._current += piece
        return self._more()

    def finish(self, content: str) -> str:
        """The stored answer: what is left to send (empty when the client got it all, or a different start)."""
        self._current = content
        return self._more()

    def _more(self) -> str:
        if len(self._current) <= len(self.text) or not self._current.startswith(self.text):
            return ""
        more, self.text = self._current[len(self.text) :], self._current
        return more


async def follow(log: AsyncIterator[Event | None], message_id: int) -> AsyncIterator[str | None | dict[str, Any]]:
    """From a chat's events (None: nothing new for a while), this question's: text to send, None to pass on, then its answer.

    The answer (a stored assistant message) comes last; a failed turn raises TurnFailed, or
    TurnRateLimited when the SLM kept answering 429.
    """
    sent = Sent()
    async for event in log:
        if event is None:
            yield None
            continue
        data = event.data
        if _question(data) != message_id:
            continue
        if event.type == events.TURN_STARTED:
            sent.restart()
        elif event.type == events.ASSISTANT_DELTA:
            if more := sent.add(data["text"]):
                yield more
        elif event.type == events.ASSISTANT_MESSAGE:
            if more := sent.finish(data["message"]["content"]):
                yield more
            yield data["message"]
            return
        elif event.type == events.TURN_CANCELLED:
            yield CANCELLED
            return
        elif event.type == events.TURN_FAILED:
            raise failure(data)


def _question(data: dict[str, Any]) -> int | None:
    """The question an event of a turn is about: its `reply_to`, or its assistant message's."""
    if "reply_to" in data:
        return data["reply_to"]
    message = data.get("message")
    return message.get("reply_to") if isinstance(message, dict) else None


def failure(data: dict[str, Any]) -> errors.TurnFailed:
    """The error a `turn.failed` event stands for."""
    kind = errors.TurnRateLimited if data.get("reason") == "slm_rate_limited" else errors.TurnFailed
    return kind(f"The turn failed ({data.get('reason')}): {data.get('message')}")


async def recalled(conn: AsyncConnection, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The memories the answer's turn recalled (its meta's `memories` ids), leaving out any deleted since."""
    found = []
    for memory_id in answer["meta"].get("memories", []):
        try:
            found.append(await memory.get(conn, memory_id))
        except errors.MemoryNotFound:
            continue
    return found
