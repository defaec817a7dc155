"""A turn's answer as it streams: its text across the SLM requests of the turn, written to the event log as it comes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from soma.conversations import events
from soma.conversations.timeline import Timeline
from soma.conversations.writer import EventWriter
from soma.slm import client as slm


@dataclass(frozen=True)
class Answer:
    """The streamed answer and when its first text arrived (ms after the turn started)."""

    text: str
    first_token_ms: float | None
    usage: dict[str, int] | None = None  # the SLM's token counts over the turn's requests, when it reported them


class Reply:
    """The answer's text across requests, streamed to the event log as it comes."""

    def __init__(self, writer: EventWriter, message_id: int, started: float, timeline: Timeline | None = None) -> None:
        self._writer = writer
        self._timeline = timeline
        self._message_id = message_id
        self._started = started
        self._parts: list[str] = []
        self._attempt = 1
        self._first_token: float | None = None
        self._usage: slm.Usage | None = None
        self.round_text = ""  # what the latest request streamed

    async def stream(
        self, model: slm.SLMClient, messages: list[dict[str, Any]], options: slm.CallOptions, hold: bool = False
    ) -> list[slm.ToolCall]:
        """Stream one request's text; returns the tool calls it ended with.

        With `hold`, the text is kept in `round_text` only, not added to the answer: the caller
        reads it first (a JSON tool request is no answer) and adds what it is with `add_text`.
        """
        calls: list[slm.ToolCall] = []
        mark = len(self._parts)
        held: list[str] = []
        if self._timeline is not None:
            self._timeline.mark("requested")
        async for piece in model.stream(messages, options):
            if isinstance(piece, slm.ToolCall):
                calls.append(piece)
            elif isinstance(piece, slm.Usage):
                self._usage = piece.add(self._usage)
            elif isinstance(piece, slm.Restart):
                if hold:
                    held.clear()
                else:
                    self.restart(piece.attempt)
                    mark = 0
            elif hold:
                held.append(piece)
            else:
                self._add(piece, fresh=len(self._parts) == mark)
        self.round_text = "".join(held if hold else self._parts[mark:]).strip()
        return calls

    def add_text(self, text: str) -> None:
        """Add text that did not stream (a held request's answer, a resumed turn's earlier steps) as a paragraph of its own."""
        self._add(text, fresh=True)

    def restart(self, attempt: int = 0) -> None:
        """Drop the text so far; clients drop it too when they see `turn.started` again."""
        if self._parts or attempt:
            self._attempt = max(self._attempt + 1, attempt)
            self._writer.event(events.TURN_STARTED, {"reply_to": self._message_id, "attempt": self._attempt})
        self._parts.clear()

    def answer(self) -> Answer:
        """The whole answer."""
        return Answer("".join(self._parts), self._first_token, self._usage.as_dict() if self._usage else None)

    def _add(self, piece: str, fresh: bool) -> None:
        if fresh:
            piece = piece.lstrip()  # models often open with a space or newline
            if not piece:
                return
            if self._parts:
                piece = "\n\n" + piece  # the text after a tool call starts a new paragraph
        if self._first_token is None:
            self._first_token = round((time.monotonic() - self._started) * 1000, 1)
            if self._timeline is not None:
                self._timeline.mark("first_piece")
        self._parts.append(piece)
        self._writer.delta(piece)
