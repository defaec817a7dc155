"""Server-Sent Events framing."""

from __future__ import annotations

import json

from soma.conversations.events import Event
from soma.gateway import params

KEEPALIVE = b": keep-alive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def frame(event: Event) -> bytes:
    """One event as `id:`, `event:` and a JSON `data:` line."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


RESTORE_APPLIED = "restore.applied"


def restored(restore_id: str) -> bytes:
    """The last frame of a stream whose chat a restore replaced: no id (a reconnect resumes nowhere), reload."""
    data = json.dumps({"restore_id": restore_id, "reload": True})
    return f"event: {RESTORE_APPLIED}\ndata: {data}\n\n".encode()


STREAM_ENDED = "stream.ended"


def ended(reason: str) -> bytes:
    """The last frame of a stream whose credential ended (a soma.auth.ending reason): no id; a reconnect gets 401."""
    data = json.dumps({"reason": reason})
    return f"event: {STREAM_ENDED}\ndata: {data}\n\n".encode()


def start_after(after: int | None, last_event_id: str | None) -> int:
    """Where a stream starts: after `Last-Event-ID`, else after `?after=`, else from the beginning.

    Last-Event-ID wins because a reconnecting EventSource sends it while keeping its first URL.
    """
    value = (last_event_id or "").strip()
    # ASCII digits only ("²" is a digit to isdigit()), and within bigint: anything else is no id this log gave.
    if value.isascii() and value.isdigit() and int(value) <= params.BIGINT_MAX:
        return int(value)
    return after or 0
