"""A turn's exchange with the SLM: stream the answer, carry out the tools it calls, ask again."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from soma import errors
from soma.conversations import events
from soma.conversations.timeline import Timeline
from soma.conversations.writer import EventWriter
from soma.slm import client as slm

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 2  # rounds of tool calls per turn; the request after the last offers no tools


class Toolbox(Protocol):
    """Tools a turn offers: OpenAI function definitions, and a way to carry out a call."""

    definitions: list[dict[str, Any]]

    async def call(self, name: str, arguments: str) -> str:
        """Carry out one call; the result is the text the SLM reads."""
        ...


@dataclass(frozen=True)
class Answer:
    """The streamed answer and when its first text arrived (ms after the turn started)."""

    text: str
    first_token_ms: float | None
    usage: dict[str, int] | None = None  # the SLM's token counts over the turn's requests, when it reported them


async def run(
    model: slm.SLMClient, reply: Reply, chat: list[dict[str, Any]], options: slm.CallOptions, toolbox: Toolbox | None
) -> Answer:
    """Stream the answer to `chat` into `reply`, offering the toolbox's tools, and carrying out the calls between requests.

    An SLM that refuses a request with tools (4xx; some servers reject `tools`) is asked the
    original chat once more, without them. When the turn is stopped, `reply` holds what came so far.
    """
    messages = list(chat)
    rounds = 0
    while True:
        offered = toolbox is not None and rounds < MAX_TOOL_ROUNDS
        try:
            calls = await reply.stream(model, messages, replace(options, tools=toolbox.definitions if offered else None))
        except errors.SLMBadRequest as exc:
            if not offered:
                raise
            log.warning(
                "the SLM refused a request with tools (%s); asking again without them. "
                "Set tools_enabled to false (PUT /v1/settings) to spare the extra request.",
                exc.detail,
            )
            toolbox, messages = None, list(chat)
            reply.restart()
            continue
        if not (offered and calls):
            return reply.answer()
        messages += await _carry_out(toolbox, calls, reply.round_text)
        rounds += 1


async def _carry_out(toolbox: Toolbox, calls: list[slm.ToolCall], text: str) -> list[dict[str, Any]]:
    """The assistant's tool-call message and one `tool` message per result, to send back to the SLM."""
    results = [{"role": "tool", "tool_call_id": c.id, "content": await toolbox.call(c.name, c.arguments)} for c in calls]
    return [{"role": "assistant", "content": text, "tool_calls": [c.as_dict() for c in calls]}, *results]


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

    async def stream(self, model: slm.SLMClient, messages: list[dict[str, Any]], options: slm.CallOptions) -> list[slm.ToolCall]:
        """Stream one request's text; returns the tool calls it ended with."""
        calls: list[slm.ToolCall] = []
        mark = len(self._parts)
        if self._timeline is not None:
            self._timeline.mark("requested")
        async for piece in model.stream(messages, options):
            if isinstance(piece, slm.ToolCall):
                calls.append(piece)
            elif isinstance(piece, slm.Usage):
                self._usage = piece.add(self._usage)
            elif isinstance(piece, slm.Restart):
                self.restart(piece.attempt)
                mark = 0
            else:
                self._add(piece, fresh=len(self._parts) == mark)
        self.round_text = "".join(self._parts[mark:]).strip()
        return calls

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
