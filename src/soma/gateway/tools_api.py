"""/v1/tools: the agent's tools, MCP tool servers and the per-tool choices; admins change them, members read the list.

A change to a server is stored first (so it is kept whatever happens next), then probed here
(connect, list tools, close, within its init_timeout), so the answer says at once whether it works;
the workers pick the change up from the NOTIFY the write sends.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel
from starlette import convertors

from soma import errors
from soma.auth import admin
from soma.gateway import access, openapi
from soma.tools import catalogue, choices, overview, servers, store

router = APIRouter(prefix="/v1/tools", tags=["tools"])


class _ToolsServer(convertors.StringConvertor):
    """A server's name in /v1/tools/{server}/{tool}: never `servers`, whose paths are the servers' own."""

    regex = "(?!servers/)[^/]+"


convertors.register_url_convertor("tools_server", _ToolsServer())

ServerName = Annotated[str, Path(pattern=f"^{servers.NAME.pattern}$", description="Letters, digits, '_' and '-', at most 32.")]
AnyServer = Annotated[str, Path(min_length=1, max_length=32, description="A tool server's name, or 'soma' for the built-ins.")]
ToolName = Annotated[str, Path(min_length=1, max_length=128)]


class ServerState(BaseModel):
    name: str
    transport: Literal["stdio", "streamable-http"] | None
    state: Literal["connected", "failed", "disabled"]
    error: str | None


class ToolView(BaseModel):
    name: str
    server: str  # "soma" for the built-ins
    description: str
    input_schema: dict[str, Any]
    enabled: bool
    approval: Literal["auto", "ask"]
    available: bool  # a turn could run it now: its server connected; for run_code, code execution on and the sandbox working
    reason: str | None  # why not


class Overview(BaseModel):
    servers: list[ServerState]
    tools: list[ToolView]


class ServerView(ServerState):
    tools: list[str]  # the tools it listed when last connected


class Choice(BaseModel):
    enabled: bool
    approval: Literal["auto", "ask"]


class Export(BaseModel):
    mcpServers: dict[str, dict[str, Any]]  # noqa: N815  (the name other clients use)


_ENTRY = {
    "type": "object",
    "description": "stdio: command, args, env; streamable-http: url, headers. Optional: transport (or type), disabled, "
    "init_timeout, call_timeout, output_cap. A secret in env or headers is a reference: vault:MOUNT/PATH#FIELD, env:NAME or file:/path.",
    "properties": {
        "transport": {"type": "string", "enum": ["stdio", "streamable-http"]},
        "command": {"type": "string"}, "args": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "url": {"type": "string"}, "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "disabled": {"type": "boolean"},
        "init_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": servers.MAX_INIT_TIMEOUT},
        "call_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": servers.MAX_CALL_TIMEOUT},
        "output_cap": {"type": "integer", "minimum": 1, "maximum": servers.MAX_OUTPUT_CAP},
    },
}  # fmt: skip
ENTRY_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _ENTRY}}}}
ALL_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["mcpServers"],
            "properties": {"mcpServers": {"type": "object", "additionalProperties": _ENTRY}},
        }}},
    }
}  # fmt: skip
CHOICE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}, "approval": {"type": "string", "enum": list(choices.APPROVALS)}},
        }}},
    }
}  # fmt: skip


@router.get("", response_model=Overview)
async def list_tools(request: Request) -> dict[str, Any]:
    """Every server with its state and error, and every tool (built-ins first) with whether it is enabled and asks first."""
    async with request.app.state.engine.connect() as conn:
        return await overview.describe(conn, request.app.state.settings)


@router.get("/servers", response_model=Export, dependencies=[Depends(access.require_admin)])
async def export_servers(request: Request) -> dict[str, Any]:
    """The configured servers as the `mcpServers` JSON other clients use, each entry as it was given (references, never values)."""
    async with request.app.state.engine.connect() as conn:
        configured, _broken = await store.load(conn, request.app.state.settings)
    return servers.export(configured)


@router.put(
    "/servers", response_model=Overview, dependencies=[Depends(access.require_admin)],
    openapi_extra=ALL_BODY, responses=openapi.raises(errors.InvalidToolServer),
)  # fmt: skip
async def replace_servers(request: Request, body: Any = Body(...)) -> dict[str, Any]:
    """Make the configured servers exactly these: all valid or nothing changes (422 naming every problem); then each is probed."""
    if not isinstance(body, dict) or set(body) != {"mcpServers"}:
        raise errors.InvalidToolServer('The body must be {"mcpServers": {"<name>": {…}, …}}.')
    settings = request.app.state.settings
    wanted = servers.parse_all(body["mcpServers"], settings)
    async with request.app.state.engine.begin() as conn:
        stored = await store.replace(conn, _actor(request), wanted)
    await catalogue.probe_and_record(request.app.state.engine, stored, settings)
    async with request.app.state.engine.connect() as conn:
        return await overview.describe(conn, settings)


@router.put(
    "/servers/{name}", response_model=ServerView, dependencies=[Depends(access.require_admin)],
    openapi_extra=ENTRY_BODY, responses=openapi.raises(errors.InvalidToolServer),
)  # fmt: skip
async def put_server(request: Request, name: ServerName, entry: Any = Body(...)) -> dict[str, Any]:
    """Add or change one server (422 naming every problem); the answer says whether it connected and what it offers."""
    settings = request.app.state.settings
    server = servers.parse(name, entry, settings)
    async with request.app.state.engine.begin() as conn:
        stored = await store.put(conn, _actor(request), server)
    await catalogue.probe_and_record(request.app.state.engine, [stored], settings)
    async with request.app.state.engine.connect() as conn:
        row = (await catalogue.read(conn)).get(name)
    shown = overview.server_state(name, stored.transport, stored.disabled, row)
    return {**shown, "tools": [tool["name"] for tool in (row.tools if row is not None else [])]}


@router.delete("/servers/{name}", status_code=204, dependencies=[Depends(access.require_admin)])
async def delete_server(request: Request, name: ServerName) -> None:
    """Remove a server; its tools' choices stay, should it come back."""
    async with request.app.state.engine.begin() as conn:
        await store.remove(conn, _actor(request), name)


@router.patch(
    "/{server:tools_server}/{tool}", response_model=Choice, dependencies=[Depends(access.require_admin)],
    openapi_extra=CHOICE_BODY, responses=openapi.raises(errors.InvalidToolChoice),
)  # fmt: skip
async def choose(request: Request, server: AnyServer, tool: ToolName, changes: Any = Body(...)) -> dict[str, Any]:
    """Enable or disable one tool, or make it ask first (`approval`: "ask") or run at once ("auto")."""
    checked = choices.check(changes)
    async with request.app.state.engine.begin() as conn:
        chosen = await choices.choose(conn, _actor(request), server, tool, checked)
    return {"enabled": chosen.enabled, "approval": chosen.approval}


def _actor(request: Request) -> admin.Actor:
    return admin.Actor(access.principal(request).actor, access.client_address(request))
