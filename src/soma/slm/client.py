"""An OpenAI-compatible `/v1/chat/completions` client that streams, times out and retries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from soma import errors

log = logging.getLogger(__name__)


class Restart:
    """Yielded by `stream` when a stream broke mid-answer and is being asked again from the start."""

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt


@dataclass(frozen=True)
class ToolCall:
    """Yielded by `stream` at the end of an answer for each function the SLM asked to call.

    `arguments` is the JSON text the SLM wrote, unparsed: it may not be valid JSON.
    """

    id: str
    name: str
    arguments: str

    def as_dict(self) -> dict[str, Any]:
        """The call as an assistant message's `tool_calls` entry."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class SLMConfig:
    """Where the SLM is and how patient to be with it."""

    base_url: str
    model: str
    api_key: str | None = None
    max_tokens: int = 512
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 4
    backoff_seconds: float = 0.5


@dataclass(frozen=True)
class CallOptions:
    """Per-call choices from the agent's settings; None keeps the configured or server default."""

    model: str | None = None
    temperature: float | None = None
    tools: list[dict[str, Any]] | None = None  # OpenAI function definitions offered to the SLM


class SLMClient:
    """One HTTP connection pool to the SLM, shared by a process's turns."""

    def __init__(self, config: SLMConfig) -> None:
        self.config = config
        timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
        self._http = httpx.AsyncClient(base_url=config.base_url.rstrip("/") + "/", timeout=timeout)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def stream(
        self, messages: list[dict[str, Any]], options: CallOptions = CallOptions()
    ) -> AsyncIterator[str | Restart | ToolCall]:
        """Yield the answer's text pieces, then its tool calls; retries 429, 5xx and broken streams with backoff, never 401/403."""
        attempt = 1
        while True:
            started = False
            try:
                async for piece in self._stream_once(messages, options):
                    started = True
                    yield piece
                return
            except errors.SLMError as exc:
                if not exc.retryable or attempt >= self.config.max_attempts:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                log.warning("SLM attempt %d failed (%s); retrying in %.2fs", attempt, exc.code, delay)
                await asyncio.sleep(delay)
                attempt += 1
                if started:
                    yield Restart(attempt)

    def _backoff(self, attempt: int) -> float:
        return self.config.backoff_seconds * 2 ** (attempt - 1)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    async def _stream_once(self, messages: list[dict[str, Any]], options: CallOptions) -> AsyncIterator[str | ToolCall]:
        body: dict[str, object] = {
            "model": options.model or self.config.model,
            "messages": messages,
            "stream": True,
            "max_tokens": self.config.max_tokens,
        }
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.tools:
            body["tools"] = options.tools
        try:
            async with self._http.stream("POST", "chat/completions", json=body, headers=self._headers()) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _status_error(response)
                async for piece in _pieces(response):
                    yield piece
        except httpx.TimeoutException as exc:
            raise errors.SLMTimeout(f"{type(exc).__name__} after {self.config.read_timeout}s.") from exc
        except httpx.TransportError as exc:
            raise errors.SLMUnavailable(f"{type(exc).__name__}: {exc}.") from exc


async def _pieces(response: httpx.Response) -> AsyncIterator[str | ToolCall]:
    """The content deltas of an OpenAI streaming response (`data: {...}` lines, then `data: [DONE]`), then its tool calls."""
    calls: dict[int, dict[str, Any]] = {}
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            for index in sorted(calls):
                call = calls[index]
                yield ToolCall(call["id"] or f"call_{index}", call["name"], "".join(call["arguments"]))
            return
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise errors.SLMUnavailable(f"The SLM sent a line that is not JSON: {payload[:200]!r}.") from exc
        if "error" in chunk:
            raise errors.SLMUnavailable(f"The SLM reported an error mid-stream: {chunk['error']!r}.")
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for fragment in delta.get("tool_calls") or []:
                _add_fragment(calls, fragment)
            text = delta.get("content")
            if text:
                yield text
    # A stream that ends without [DONE] was cut off.
    raise errors.SLMUnavailable("The SLM closed the stream before [DONE].")


def _add_fragment(calls: dict[int, dict[str, Any]], fragment: dict[str, Any]) -> None:
    """Merge one streamed piece of a tool call: the id and name come once, the arguments in pieces."""
    call = calls.setdefault(fragment.get("index", 0), {"id": "", "name": "", "arguments": []})
    function = fragment.get("function") or {}
    call["id"] = call["id"] or fragment.get("id") or ""
    call["name"] = call["name"] or function.get("name") or ""
    call["arguments"].append(function.get("arguments") or "")


def _status_error(response: httpx.Response) -> errors.SLMError:
    status = response.status_code
    snippet = response.text[:300]
    if status in (401, 403):
        return errors.SLMAuthFailed(f"The SLM answered HTTP {status} ({snippet!r}).")
    if status == 429:
        return errors.SLMRateLimited(f"HTTP 429 ({snippet!r}).", retry_after=_retry_after(response))
    if status >= 500:
        return errors.SLMUnavailable(f"HTTP {status} ({snippet!r}).", retry_after=_retry_after(response))
    return errors.SLMBadRequest(f"HTTP {status} ({snippet!r}).")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), 30.0) if value else None  # cap: a turn must not wait minutes
    except ValueError:
        return None
