"""An OpenAI-compatible `/v1/chat/completions` client that streams, times out and retries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from soma import config, errors
from soma.observability import metrics

log = logging.getLogger(__name__)

DRAIN_SECONDS = 2.0  # how long the end of a response may take to come after its [DONE], read in the background


class Restart:
    """Yielded by `stream` when a stream broke mid-answer and is being asked again from the start."""

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt


@dataclass(frozen=True)
class Usage:
    """Yielded by `stream` at the end of an answer when the SLM reported its token counts."""

    prompt_tokens: int
    completion_tokens: int

    def add(self, other: Usage | None) -> Usage:
        """The counts of two requests of one turn (a tool round asks again)."""
        if other is None:
            return self
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)

    def as_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}  # fmt: skip


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
    max_tokens: int = 512
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 4
    backoff_seconds: float = 0.5

    @classmethod
    def from_settings(cls, settings: config.Settings) -> SLMConfig:
        """The SOMA_SLM_* settings; SLMNotConfigured when no SLM is set."""
        if not settings.slm_base_url:
            raise errors.SLMNotConfigured()
        return cls(
            base_url=settings.slm_base_url,
            model=settings.slm_model,
            max_tokens=settings.slm_max_tokens,
            connect_timeout=settings.slm_connect_timeout,
            read_timeout=settings.slm_read_timeout,
            max_attempts=settings.slm_max_attempts,
            backoff_seconds=settings.slm_backoff_seconds,
        )


@dataclass(frozen=True)
class CallOptions:
    """Per-call choices from the agent's settings; None keeps the configured or server default."""

    model: str | None = None
    temperature: float | None = None
    tools: list[dict[str, Any]] | None = None  # OpenAI function definitions offered to the SLM
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None  # e.g. a JSON schema the answer must follow


class Key(Protocol):
    """A read of the API key: the value (None when missing), where it came from, why it is missing."""

    value: str | None
    missing: str

    @property
    def label(self) -> str: ...


class KeySource(Protocol):
    """Where the client gets its API key for each call (`soma.secrets.watch.SecretWatcher`)."""

    def current(self) -> Key: ...

    async def reread(self) -> Key: ...


@dataclass(frozen=True)
class FixedKey:
    """A key that never changes, e.g. the local SLM's own; `value` None sends no Authorization header."""

    value: str | None
    label: str = "a fixed key"
    missing: str = ""

    def current(self) -> FixedKey:
        return self

    async def reread(self) -> FixedKey:
        return self


class SLMClient:
    """One HTTP connection pool to the SLM, shared by a process's turns."""

    def __init__(self, config: SLMConfig, keys: KeySource = FixedKey(None)) -> None:
        self.config = config
        self.keys = keys
        timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
        self._http = httpx.AsyncClient(base_url=config.base_url.rstrip("/") + "/", timeout=timeout)
        self._closing: set[asyncio.Task[None]] = set()  # answered responses being read to their end

    async def aclose(self) -> None:
        """Close the connection pool."""
        for task in list(self._closing):
            task.cancel()
        await self.settled()
        await self._http.aclose()

    async def settled(self) -> None:
        """Wait until the answered responses still being read to their end are closed (their connections kept or not)."""
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_later(self, response: httpx.Response, lines: AsyncIterator[str]) -> None:
        """Finish an answered response in the background: the turn goes on without waiting for its end."""
        task = asyncio.create_task(_read_to_end(response, lines))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def stream(
        self, messages: list[dict[str, Any]], options: CallOptions = CallOptions()
    ) -> AsyncIterator[str | Restart | ToolCall | Usage]:
        """Yield the answer's text pieces, then its token counts (when the SLM reports them), then its tool calls.

        Retries 429, 5xx and broken streams with backoff; a 401/403 only once, and only if a re-read finds a new key.
        """
        attempt = 1
        key = self.keys.current()
        while True:
            started = False
            try:
                async for piece in self._stream_once(messages, options, key):
                    started = True
                    yield piece
                return
            except errors.SLMAuthFailed:
                fresh = await self.keys.reread()
                if started or fresh is key or fresh.value in (None, key.value):
                    raise
                log.warning("SLM refused the key from %s; retrying with %s", key.label, fresh.label)
                key = fresh
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

    async def check(self) -> Key:
        """Authenticate with a one-token completion; returns the key used, raises SLMError naming its source."""
        options = CallOptions(max_tokens=1)
        async for _ in self.stream([{"role": "user", "content": "Say OK."}], options):
            pass
        return self.keys.current()

    def _headers(self, key: Key) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if key.value:
            headers["Authorization"] = f"Bearer {key.value}"
        elif key.missing:  # no key where one is expected: fail closed without calling the SLM
            raise errors.SLMAuthFailed(f"No SLM API key: {key.missing} ({key.label}).")
        return headers

    async def _stream_once(self, messages: list[dict[str, Any]], options: CallOptions, key: Key) -> AsyncIterator[str | ToolCall | Usage]:
        """One request to the SLM, counted in soma_slm_calls_total by how it ended."""
        call = metrics.SLMCall()
        try:
            async for piece in self._request(messages, options, key, call):
                yield piece
        except errors.SLMError as exc:
            call.finish(exc.code)
            raise
        call.finish("ok")

    async def _request(
        self, messages: list[dict[str, Any]], options: CallOptions, key: Key, call: metrics.SLMCall
    ) -> AsyncIterator[str | ToolCall | Usage]:
        body: dict[str, object] = {
            "model": options.model or self.config.model,
            "messages": messages,
            "stream": True,
            "max_tokens": options.max_tokens or self.config.max_tokens,
        }
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.tools:
            body["tools"] = options.tools
        if options.response_format:
            body["response_format"] = options.response_format
        try:
            response = await self._send(self._http.build_request("POST", "chat/completions", json=body, headers=self._headers(key)))
            lines, answered = response.aiter_lines(), False
            try:
                if response.status_code != 200:
                    await response.aread()
                    raise _status_error(response, key)
                async for piece in _pieces(lines, call):
                    yield piece
                answered = True
            finally:
                if answered:
                    self._close_later(response, lines)
                else:
                    await response.aclose()
        except httpx.TimeoutException as exc:
            raise errors.SLMTimeout(f"{type(exc).__name__} after {self.config.read_timeout}s.") from exc
        except httpx.TransportError as exc:
            raise errors.SLMUnavailable(f"{type(exc).__name__}: {exc}.") from exc


    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send the request, once more on a new connection if a kept one turns out closed.

        Connections are kept between turns (see _read_to_end), and a server may close one while it is idle:
        llama.cpp's server closes every other one just after its answer. The request then fails
        before any answer came, and asking again at once, rather than after the retry backoff, is
        what HTTP clients do.
        """
        try:
            return await self._http.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            log.debug("the SLM connection was closed before the request (%s); sending it again", exc)
            return await self._http.send(request, stream=True)


async def _pieces(lines: AsyncIterator[str], call: metrics.SLMCall) -> AsyncIterator[str | ToolCall | Usage]:
    """The content deltas of an OpenAI streaming response (`data: {...}` lines, then `data: [DONE]`), then its tool calls."""
    calls: dict[int, dict[str, Any]] = {}
    reported: Usage | None = None
    async for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            if reported is not None:
                yield reported
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
        usage = chunk.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            call.usage(usage["completion_tokens"])
            if isinstance(usage.get("prompt_tokens"), int):
                reported = Usage(usage["prompt_tokens"], usage["completion_tokens"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for fragment in delta.get("tool_calls") or []:
                _add_fragment(calls, fragment)
            text = delta.get("content")
            if text:
                call.text()
                yield text
    # A stream that ends without [DONE] was cut off.
    raise errors.SLMUnavailable("The SLM closed the stream before [DONE].")


async def _read_to_end(response: httpx.Response, lines: AsyncIterator[str]) -> None:
    """Read what follows [DONE] and close the response: read to its end, its connection goes back to the pool.

    A response closed unread closes its connection, and the next turn would connect anew: a TCP
    handshake (and a TLS one with a remote SLM) before its request. A server that does not end the
    response soon (llama.cpp's server takes up to a few hundred ms) is left be.
    """
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in lines:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass
    finally:
        await response.aclose()


def _add_fragment(calls: dict[int, dict[str, Any]], fragment: dict[str, Any]) -> None:
    """Merge one streamed piece of a tool call: the id and name come once, the arguments in pieces."""
    call = calls.setdefault(fragment.get("index", 0), {"id": "", "name": "", "arguments": []})
    function = fragment.get("function") or {}
    call["id"] = call["id"] or fragment.get("id") or ""
    call["name"] = call["name"] or function.get("name") or ""
    call["arguments"].append(function.get("arguments") or "")


def _status_error(response: httpx.Response, key: Key) -> errors.SLMError:
    status = response.status_code
    snippet = response.text[:300]
    if status in (401, 403):
        return errors.SLMAuthFailed(f"The SLM answered HTTP {status} ({snippet!r}) to the key from {key.label}.")
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
