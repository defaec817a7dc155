"""One session with an MCP server through the SDK's Client: opened within init_timeout, tools listed, calls made.

`open` yields a Session whose tools are listed; the caller holds it as long as it likes (a worker's
connection) or closes it at once (a probe). The init deadline is an anyio cancel scope around the
whole session, lifted once the tools are listed: the SDK's task groups live inside it, so it can
neither be exited early nor leave them half-open. Every text that leaves here (errors, results)
has the server's secrets redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import mcp_types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

import soma
from soma import config
from soma.tools import http, results, stdio
from soma.tools.references import Resolved
from soma.tools.registry import ToolResult, ToolSpec
from soma.tools.servers import STDIO, Server

MAX_TOOLS = 128  # per server: more would crowd every request to the SLM
MAX_LIST_PAGES = 20  # a listing that never ends cannot hang a connection
MAX_DESCRIPTION_CHARS = 4000
MAX_SCHEMA_BYTES = 64 * 1024  # a tool's input schema, as JSON
CALL_GRACE_SECONDS = 1.0  # beyond call_timeout, for the SDK's own timeout to answer first
CLIENT = mcp_types.Implementation(name="soma", version=soma.__version__)


@dataclass
class Link:
    """How the transport under a session is doing: the stdio process, or the HTTP exchanges."""

    process: stdio.Process | None = None
    exchange: http.Exchange | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # the server is gone (stdio)


@dataclass
class Session:
    """An open session: its server, the SDK client, and the tools it listed (catalogue entries)."""

    server: Server
    client: Client
    tools: list[dict[str, Any]]
    link: Link
    resolved: Resolved

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Call one tool within call_timeout; never raises for the server's failure (a ToolResult with ok False)."""
        limit = self.server.call_timeout
        try:
            with anyio.fail_after(limit + CALL_GRACE_SECONDS):
                answer = await self.client.call_tool(tool, arguments, read_timeout_seconds=limit)
        except TimeoutError:
            return self._timed_out(tool)
        except MCPError as exc:
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                return self._timed_out(tool)
            return ToolResult(False, self._failed(tool, describe(exc, self.link, self.server)), "error")
        except Exception as exc:  # the transport broke mid-call (a connection reset, a body over the limit)
            return ToolResult(False, self._failed(tool, describe(exc, self.link, self.server)), "error")
        return results.of(answer, self.server.output_cap, self.resolved.redact)

    def _timed_out(self, tool: str) -> ToolResult:
        text = f"The tool {tool!r} of the server {self.server.name!r} did not answer within {self.server.call_timeout:g} s (its call_timeout)."
        return ToolResult(False, text, "timeout")

    def _failed(self, tool: str, why: str) -> str:
        return self.resolved.redact(f"The tool {tool!r} of the server {self.server.name!r} failed: {why}.")


@contextlib.asynccontextmanager
async def open(server: Server, resolved: Resolved, link: Link | None = None) -> AsyncIterator[Session]:
    """A session whose tools are listed, within server.init_timeout (TimeoutError past it).

    `link` is the caller's, to `describe` a failure once the session is closed (a stdio server's exit code is known then).
    """
    link = link if link is not None else Link()
    with anyio.CancelScope(deadline=anyio.current_time() + server.init_timeout) as deadline:
        async with _transport(server, resolved, link) as transport, Client(transport, cache=None, client_info=CLIENT) as client:
            tools = await listing(client)
            deadline.deadline = math.inf
            yield Session(server, client, tools, link, resolved)
            return
    if deadline.cancelled_caught:
        raise TimeoutError(f"it did not answer within {server.init_timeout:g} s (its init_timeout)")


@contextlib.asynccontextmanager
async def _transport(server: Server, resolved: Resolved, link: Link) -> AsyncIterator[Any]:
    """The SDK transport for the server (not yet entered: the Client enters it)."""
    if server.transport == STDIO:
        link.process = stdio.Process(ended=link.ended)
        environment = config.tool_server_environment() | resolved.env
        yield stdio.connect(server.command, server.args, environment, link.process)
        return
    link.exchange = http.Exchange()
    async with http.client(resolved.headers, server.init_timeout, link.exchange) as client:
        yield streamable_http_client(server.url, http_client=client, max_sse_event_size=stdio.MAX_MESSAGE_BYTES)


async def listing(client: Client) -> list[dict[str, Any]]:
    """Every tool the server lists (at most MAX_TOOLS), as catalogue entries."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        found.extend(entry(tool) for tool in page.tools)
        cursor = page.next_cursor
        if not cursor or len(found) >= MAX_TOOLS:
            break
    return found[:MAX_TOOLS]


def entry(tool: mcp_types.Tool) -> dict[str, Any]:
    """A listed tool as tool_catalogue keeps it: name, description, input_schema, annotations."""
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        schema = {"type": "object", "description": f"The server's schema for this tool was over {MAX_SCHEMA_BYTES // 1024} KiB."}
    annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
    return {"name": tool.name, "description": (tool.description or "")[:MAX_DESCRIPTION_CHARS], "input_schema": schema, "annotations": annotations}


def spec(server: str, listed: dict[str, Any]) -> ToolSpec:
    """The registry's spec of a catalogue entry; repeatable when annotated readOnlyHint or idempotentHint."""
    hints = listed.get("annotations") or {}
    repeatable = bool(hints.get("readOnlyHint") or hints.get("idempotentHint"))
    return ToolSpec(server, listed["name"], listed.get("description") or "", listed.get("input_schema") or {}, repeatable)


def describe(exc: BaseException, link: Link, server: Server) -> str:
    """Why a session failed, in a few words an admin can act on (not yet redacted)."""
    leaf = _leaf(exc)
    if isinstance(leaf, TimeoutError) and str(leaf):
        why = str(leaf)
    elif isinstance(leaf, OSError) and link.process is not None and link.process.pid is None:
        why = f"cannot start {server.command!r}: {leaf.strerror or leaf}"
    elif link.exchange is not None and (refused := link.exchange.describe()):
        why = refused
    elif isinstance(leaf, httpx2.TransportError):
        why = f"cannot reach {server.url}: {type(leaf).__name__}{': ' + str(leaf) if str(leaf) else ''}"
    elif link.process is not None and link.process.ended.is_set():
        why = link.process.describe()
    elif isinstance(leaf, MCPError):
        why = f"the server answered an error: {leaf}"
    else:
        why = f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
    if link.process is not None and (tail := link.process.stderr.text()):
        why += f"; its stderr ended with: {tail[-500:]}"
    return why


def _leaf(exc: BaseException) -> BaseException:
    """The first real cause inside exception groups (a transport's task group wraps its failure twice)."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc
