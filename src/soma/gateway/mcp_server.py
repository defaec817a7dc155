"""/mcp: Soma as an MCP server (Streamable HTTP), so another agent or an IDE can use the agent.

Three tools: `ask` posts a message into a chat of the caller's key, as POST
/v1/sessions/{id}/messages does, and waits for that turn's answer in the chat's events
(gateway/answer_wait.py, shared with the OpenAI-compatible API); `search_memory` and
`search_knowledge` search what the agent remembers and the files it answers from.

The official SDK (`mcp`) serves the protocol behind one gateway route (gateway/mcp_endpoint.py,
which imports this module on the first request), so every middleware stands
in front of it as for /v1: the lockdown gate, authentication (an API key with the chat scope; a
login cookie is refused here, McpNeedsKey), the body limit, the security headers, metrics and the
access log. The SDK's session manager runs stateless: each request gets a fresh transport and no
`Mcp-Session-Id`, so any gateway replica answers any request, and a restarted gateway loses
nothing, since the chats live in PostgreSQL. Stateless servers cannot send requests to the client
(sampling, elicitation), which these tools never need. Answers are Server-Sent Events, so a long
`ask` can send progress notifications while the agent works. The SDK's DNS-rebinding check (Host
and Origin allow-lists) is off: a rebinding page cannot send the bearer key every request needs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

import soma
from soma import errors
from soma.auth import ending
from soma.auth.principal import Principal
from soma.conversations import sessions
from soma.gateway import access, answer_wait, database_down
from soma.knowledge import store as knowledge
from soma.memory import store as memory
from soma.openai_compat import answer as answers
from soma.openai_compat import continuity

PATH = "/mcp"
KNOWLEDGE_RESULTS = 5  # excerpts per search_knowledge: at most 5 × 1,000 characters (knowledge.chunking.CHUNK_CHARS)
NO_REBINDING_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)
INSTRUCTIONS = (
    "Soma's agent. `ask` sends a message to a chat and returns the agent's answer with the chat's session_id: "
    "pass it to `ask` again to continue that chat. `search_memory` and `search_knowledge` search what the agent "
    "remembers and the files it answers from."
)


class Asked(BaseModel):
    """What `ask` returns besides the answer's text."""

    answer: str = Field(description="The agent's answer.")
    session_id: str = Field(description="The chat: pass it to `ask` again to continue it.")
    message_id: int | None = Field(description="The answer's id in the chat; null when the turn was stopped before it began.")
    stopped: bool = Field(description="True when someone stopped the answer in Soma before it was finished.")


class MemoriesFound(BaseModel):
    """What `search_memory` returns: the memories as GET /v1/memories?query= lists them."""

    memories: list[dict[str, Any]] = Field(description="The most similar memories, best first, each with its `similarity`.")


class KnowledgeFound(BaseModel):
    """What `search_knowledge` returns."""

    excerpts: list[dict[str, Any]] = Field(description="The most similar excerpts of ready files, best first, each with its `filename`.")


def session_manager() -> StreamableHTTPSessionManager:
    """The MCP server with Soma's three tools, as a stateless session manager (run it with `running`)."""
    server = MCPServer("soma", version=soma.__version__, instructions=INSTRUCTIONS)
    server.add_tool(ask, annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False))
    server.add_tool(search_memory, annotations=ToolAnnotations(readOnlyHint=True))
    server.add_tool(search_knowledge, annotations=ToolAnnotations(readOnlyHint=True))
    server.streamable_http_app(stateless_http=True, transport_security=NO_REBINDING_CHECK)  # builds server.session_manager
    return server.session_manager


async def ask(
    message: Annotated[str, Field(description="Your message to the agent.")],
    ctx: Context,
    session_id: Annotated[
        str | None, Field(description="Continue this chat: the session_id an earlier `ask` returned. Leave it out to start a new chat.")
    ] = None,
) -> Annotated[CallToolResult, Asked]:
    """Send a message to Soma's agent and wait for its answer; the answer comes back with the chat's session_id."""
    request = _request(ctx)
    return await _guarded(request, _ask(request, message, session_id, ctx))


async def search_memory(
    query: Annotated[str, Field(description="What to look for, in a few words or a question.")], ctx: Context
) -> Annotated[CallToolResult, MemoriesFound]:
    """Search the agent's long-term memory by meaning: facts about the user and from earlier conversations."""
    request = _request(ctx)
    return await _guarded(request, _search_memory(request, query))


async def search_knowledge(
    query: Annotated[str, Field(description="What to look for, in a few words or a question.")], ctx: Context
) -> Annotated[CallToolResult, KnowledgeFound]:
    """Search the knowledge files the agent answers from, by meaning; each excerpt names its file."""
    request = _request(ctx)
    return await _guarded(request, _search_knowledge(request, query))


async def _ask(request: Request, message: str, session_id: str | None, ctx: Context) -> CallToolResult:
    state, caller = request.app.state, access.principal(request)
    question = _text("message", message, state.settings.max_message_chars, errors.MessageTooLarge)
    chat = _chat_id(session_id)
    async with state.engine.begin() as conn:
        if chat is not None:
            await _own_chat(conn, chat, caller)
        # A new chat and its first message commit together: a refused post (a restore under way) leaves no empty chat.
        posted = await continuity.post(conn, [continuity.Said("user", question)], caller.owner, chat)
    try:
        answer = await _answer(request, caller, posted, ctx)
    except errors.SomaError as exc:
        return _failed(exc, posted.session_id)
    asked = Asked(answer=answer["content"], session_id=str(posted.session_id), message_id=answer["id"], stopped=answer["stopped"])
    text = answer["content"] if answer["id"] is not None else "The turn was stopped in Soma before the agent answered."
    return _result(text, asked.model_dump())


async def _own_chat(conn: AsyncConnection, chat: uuid.UUID, caller: Principal) -> None:
    """McpChatNotFound unless the chat is the key's own: not even an admin key continues another's chat here."""
    try:
        await sessions.get(conn, chat, owner=caller.owner)
    except errors.SessionNotFound:
        raise errors.McpChatNotFound(f"session_id {chat} is not one of this key's chats.") from None


async def _answer(request: Request, caller: Principal, posted: continuity.Posted, ctx: Context) -> dict[str, Any]:
    """The question's answer, read from its chat's events; TurnFailed, McpAnswerTimedOut, or what ended the wait."""
    state = request.app.state
    subscription = state.notifier.subscribe(str(posted.session_id), ending.names_of(caller))
    log = answer_wait.after(state, subscription, posted.session_id, posted.event_id, _never_gone)
    timeout = state.settings.mcp_ask_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            answer = await answer_wait.answer(answers.follow(log, posted.message["id"]), _progress(ctx))
    except TimeoutError:
        raise errors.McpAnswerTimedOut(f"No answer came within {timeout:g} s (SOMA_MCP_ASK_TIMEOUT_SECONDS).") from None
    finally:
        subscription.close()
    assert answer is not None  # the wait ends only with the answer, since the caller is never taken for gone
    return answer


async def _never_gone() -> bool:
    """Whether the caller left: never asked here, since the SDK's transport owns the request's receive channel.

    It cancels the tool call itself when the client closes the connection (both protocol eras).
    """
    return False


def _progress(ctx: Context) -> answer_wait.Heard:
    """Tell a client that asked for progress (a progressToken) what is coming: a notification per piece of text or quiet interval."""
    updates, received = 0, 0

    async def heard(piece: str | None) -> None:
        nonlocal updates, received
        updates += 1  # MCP progress must grow with every notification
        received += len(piece or "")
        await ctx.report_progress(updates, message=f"{received} characters of the answer so far" if received else "waiting for the agent")

    return heard


async def _search_memory(request: Request, query: str) -> CallToolResult:
    state = request.app.state
    text = _text("query", query, memory.MAX_CHARS)
    async with state.engine.connect() as conn:
        found = await memory.search(conn, state.embedder, text)
    lines = [f"- {m['content']} (memory {m['id']}, similarity {m['similarity']})" for m in found]
    return _result("\n".join(lines) or "No memory matches.", {"memories": found})


async def _search_knowledge(request: Request, query: str) -> CallToolResult:
    state = request.app.state
    text = _text("query", query, state.settings.max_message_chars)
    async with state.engine.connect() as conn:
        found = await knowledge.search(conn, state.embedder, text, KNOWLEDGE_RESULTS)
    parts = [f"[{e['filename']}, part {e['ordinal'] + 1}, similarity {e['similarity']}]\n{e['content']}" for e in found]
    return _result("\n\n".join(parts) or "No knowledge file matches.", {"excerpts": found})


def _request(ctx: Context) -> Request:
    """The HTTP request the tool call came in, as the gateway's middlewares left it (app.state, the principal)."""
    return ctx.request_context.request


def _text(name: str, value: str, limit: int, too_long: type[errors.SomaError] = errors.McpArgumentInvalid) -> str:
    """A tool's text argument as the API would take it: not blank, no NUL, within its limit."""
    if not value.strip():
        raise errors.McpArgumentInvalid(f"`{name}` is empty.")
    if "\x00" in value:
        raise errors.McpArgumentInvalid(f"`{name}` contains a NUL (\\u0000) character, which cannot be stored.")
    if len(value) > limit:
        raise too_long(f"`{name}` has {len(value)} characters; the limit is {limit}.")
    return value


def _chat_id(value: str | None) -> uuid.UUID | None:
    """The chat `session_id` names; None (a new chat) when it is left out or empty."""
    if value is None or not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise errors.McpArgumentInvalid(f"session_id {value!r} is not a chat id (a UUID, as `ask` returns).") from None


async def _guarded(request: Request, work: Awaitable[CallToolResult]) -> CallToolResult:
    """The tool's result, or its error as a tool error: a refusal, bad arguments, or PostgreSQL away."""
    try:
        return await work
    except errors.SomaError as exc:
        return _failed(exc)
    except database_down.DOWN as exc:
        return _failed(database_down.unavailable(request.scope, exc))


def _failed(exc: errors.SomaError, session_id: uuid.UUID | None = None) -> CallToolResult:
    """A tool error: the error's message, and the chat when the question was posted (its answer may come later)."""
    text = exc.message if session_id is None else f"{exc.message} (session_id: {session_id})"
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _result(text: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)
