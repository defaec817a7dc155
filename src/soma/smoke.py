"""The smoke test: one real chat turn through a running gateway, timed step by step.

It uses only the public HTTP API, so it checks what a user would: the gateway, the queue,
the worker, the SLM and its key, and the event stream.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import httpx

from soma import errors


@dataclass
class Result:
    """A passed smoke test."""

    session_id: str
    reply: str
    timings: dict[str, float] = field(default_factory=dict)  # step → seconds


def run(url: str, message: str, timeout: float, api_key: str | None = None) -> Result:
    """Create a chat, send `message`, stream until its reply; SmokeFailed naming the step that failed."""
    base = url.rstrip("/")
    started = time.monotonic()
    timings: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0)) as http:
        session = _json(_step(http, "POST", "/v1/sessions", "create a chat", json={"title": "smoke test"}), "create a chat")
        timings["create chat"] = time.monotonic() - started
        sent = _json(_step(http, "POST", f"/v1/sessions/{session['id']}/messages", "send a message", json={"content": message}), "send a message")
        timings["send message"] = time.monotonic() - started
        reply = _await_reply(http, session["id"], sent["id"], timeout, started, timings)
    timings["total"] = time.monotonic() - started
    return Result(str(session["id"]), reply, timings)


def _step(http: httpx.Client, method: str, path: str, what: str, **kwargs) -> httpx.Response:
    try:
        response = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise errors.SmokeFailed(f"Could not {what}: {type(exc).__name__} talking to {http.base_url}{path}.") from exc
    if response.status_code == 401:
        raise errors.SmokeFailed(f"Could not {what}: the gateway wants credentials. Set SOMA_API_KEY to a key with the chat scope (`soma keys create --name smoke --scope chat`).")
    if response.status_code >= 400:
        raise errors.SmokeFailed(f"Could not {what}: HTTP {response.status_code} from {path}: {response.text[:300]}.")
    return response


def _json(response: httpx.Response, what: str) -> dict:
    try:
        return response.json()
    except ValueError as exc:
        raise errors.SmokeFailed(f"Could not {what}: the answer is not JSON ({response.text[:200]!r}).") from exc


def _await_reply(http: httpx.Client, session_id: str, message_id: int, timeout: float, started: float, timings: dict[str, float]) -> str:
    """Read the session's event stream until the reply to `message_id` or its failure."""
    deadline = started + timeout
    path = f"/v1/sessions/{session_id}/events"
    try:
        with http.stream("GET", path, headers={"Accept": "text/event-stream"}) as stream:
            if stream.status_code != 200:
                raise errors.SmokeFailed(f"Could not stream the reply: HTTP {stream.status_code} from {path}.")
            kind = ""
            for line in stream.iter_lines():
                if time.monotonic() > deadline:
                    break
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    reply = _on_event(kind, json.loads(line[5:]), message_id, started, timings)
                    if reply is not None:
                        return reply
    except httpx.ReadTimeout:
        pass
    except httpx.HTTPError as exc:
        raise errors.SmokeFailed(f"The event stream broke: {type(exc).__name__}.") from exc
    raise errors.SmokeFailed(f"No reply within {timeout:g}s: is a worker running (`kubectl get deploy conversation-worker`)?")


def _on_event(kind: str, data: dict, message_id: int, started: float, timings: dict[str, float]) -> str | None:
    if kind == "turn.started" and data.get("reply_to") == message_id:
        timings.setdefault("turn started", time.monotonic() - started)
    elif kind == "assistant.delta" and data.get("reply_to") == message_id:
        timings.setdefault("first token", time.monotonic() - started)
    elif kind == "assistant.message" and data["message"].get("reply_to") == message_id:
        timings.setdefault("first token", time.monotonic() - started)  # stored before the stream opened: its deltas are gone
        timings["reply complete"] = time.monotonic() - started
        return data["message"]["content"]
    elif kind == "turn.failed" and data.get("reply_to") == message_id:
        raise errors.SmokeFailed(f"The turn failed with {data.get('reason')}: {data.get('message')}")
    return None
