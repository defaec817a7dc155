"""The /mcp route: the MCP server (gateway/mcp_server.py) loaded by the first request, run until the gateway stops.

Importing the MCP SDK costs a process 0.6 s of CPU, over a third of a gateway's start, and most
gateways never serve /mcp: the route imports it, builds the server and starts its session
manager's task group on first use. The task group lives in a task of its own: an anyio task group
must be left by the task that entered it, and neither a request nor the app's lifespan (which
pytest-asyncio's fixtures may enter and leave from different tasks) is that task.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from soma import errors

PATH = "/mcp"


def install(app: FastAPI) -> None:
    """Serve /mcp behind the app's middlewares; the app's lifespan must await `stop(app)` before the database goes."""
    app.state.mcp = Endpoint()
    app.add_route(PATH, app.state.mcp, include_in_schema=False)  # a protocol, not a REST operation


async def stop(app: FastAPI) -> None:
    """Stop the MCP server if a request started it: tool calls still running (an `ask` waiting) are cancelled."""
    await app.state.mcp.stop()


class Endpoint:
    """The route's ASGI app: authn.Authenticate has checked the credential and its chat scope; it must be a key."""

    def __init__(self) -> None:
        self._manager: Any = None  # the SDK's StreamableHTTPSessionManager, once started
        self._starting = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["state"]["principal"].kind != "key":
            raise errors.McpNeedsKey()  # rendered by gateway/error_shape.py
        manager = await self._started()
        await manager.handle_request(scope, receive, send)

    async def _started(self) -> Any:
        async with self._starting:
            if self._manager is None:
                from soma.gateway import mcp_server  # the SDK: see the module's docstring

                manager = mcp_server.session_manager()
                running = asyncio.Event()
                self._serving = asyncio.create_task(self._serve(manager, running), name="soma-mcp")
                ready = asyncio.create_task(running.wait())
                await asyncio.wait({self._serving, ready}, return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
                if self._serving.done():
                    self._serving.result()  # it failed to start: raise why
                self._manager = manager
        return self._manager

    async def _serve(self, manager: Any, running: asyncio.Event) -> None:
        async with manager.run():
            running.set()
            await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._serving is not None:
            await self._serving
