"""An MCP client of Soma's /mcp written with the official SDK, sending an API key as an IDE or another agent does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx2
from mcp import Client
from mcp.client.client import ConnectMode
from mcp.client.streamable_http import streamable_http_client

TIMEOUT = 120  # seconds an HTTP request to /mcp may take: an `ask` waits for its turn


@contextlib.asynccontextmanager
async def connected(
    base_url: str, key: str, transport: httpx2.AsyncBaseTransport | None = None, mode: ConnectMode = "auto"
) -> AsyncIterator[Client]:
    """A connected client of `base_url`/mcp; `transport` to reach an in-process app, `mode` "legacy" for the 2025 handshake."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, transport=transport, timeout=TIMEOUT)
    async with http, Client(streamable_http_client(f"{base_url}/mcp", http_client=http), mode=mode) as client:
        yield client


def text(result) -> str:
    """The text of a tool result's one content block."""
    [block] = result.content
    return block.text
