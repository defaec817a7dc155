"""The HTTP client for a streamable-http MCP server: its headers, no environment of the worker's, JSON bodies bounded.

`trust_env=False`: the worker's HTTP(S)_PROXY, NO_PROXY and `.netrc` are Soma's, not the tool
server's, and a `.netrc` would hand its passwords to whatever host the URL names. Redirects are left
to the SDK, which follows them only within the URL's origin, so the headers (and their secrets) go
to that origin alone. A JSON answer larger than stdio.MAX_MESSAGE_BYTES is cut off with an error
rather than read whole (the SDK bounds SSE events itself); the last refusal's status is kept so a
failed connection can say "HTTP 401" instead of the SDK's generic error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2

from soma.tools.stdio import MAX_MESSAGE_BYTES, MiB

READ_TIMEOUT = 300.0  # seconds without a byte on an open response (the SDK's default); calls have their own timeout


@dataclass
class Exchange:
    """What the last answers showed: the latest refusal (status >= 400), for error messages."""

    refused: int | None = None
    reason: str = ""

    def describe(self) -> str | None:
        return f"the server answered HTTP {self.refused} {self.reason}".strip() if self.refused else None


class TooLarge(httpx2.TransportError):
    """An answer over MAX_MESSAGE_BYTES."""


class _Bounded(httpx2.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise TooLarge(f"the server sent an answer over {self._limit // MiB} MiB")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _Watched(httpx2.AsyncBaseTransport):
    """The real transport, noting refusals and bounding JSON bodies."""

    def __init__(self, exchange: Exchange) -> None:
        self._inner = httpx2.AsyncHTTPTransport()  # SSL_CERT_FILE still counts: a private CA is not a secret
        self._exchange = exchange

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        if response.status_code >= 400:
            self._exchange.refused, self._exchange.reason = response.status_code, response.reason_phrase
        else:
            self._exchange.refused = None  # an earlier refusal no longer explains what fails next
        if response.headers.get("content-type", "").startswith("application/json"):
            response.stream = _Bounded(response.stream, MAX_MESSAGE_BYTES)  # type: ignore[arg-type]
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def client(headers: dict[str, str], connect_timeout: float, exchange: Exchange) -> httpx2.AsyncClient:
    """A client for one server: its resolved headers on every request, nothing from the worker's environment."""
    timeout = httpx2.Timeout(connect_timeout, read=READ_TIMEOUT)
    return httpx2.AsyncClient(headers=headers, timeout=timeout, trust_env=False, transport=_Watched(exchange))
