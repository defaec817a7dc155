"""/mcp on an in-process gateway, through the official SDK's client: the tools, who may call them, and the tool errors.

These need no worker: a question stays queued. Answers through real processes are in
tests/acceptance/test_mcp_server.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import psycopg
import pytest
from fastapi import FastAPI
from mcp.shared.exceptions import MCPError

from soma import config, errors
from soma.db import engine as db_engine
from soma.db import restore_lock
from soma.emergency import lockdown
from soma.gateway import app as gateway_app
from soma.gateway import limits
from tests import procs
from tests.conftest import ADMIN, EMBEDDER, client_of
from tests.soma_mcp import connected, text

BASE_URL = "https://soma.test"
PASSWORD = "correct horse battery"
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}  # fmt: skip
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


async def _key(api, name: str, *scopes: str) -> dict:
    response = await api.post("/v1/keys", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


def _client(gateway: FastAPI, key: str, mode: str = "auto"):
    return connected(BASE_URL, key, httpx2.ASGITransport(app=gateway), mode)


def _rows(database_url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


async def test_the_tools_are_ask_search_memory_and_search_knowledge_in_either_protocol_era(api, gateway) -> None:
    chat = await _key(api, "ide", "chat")
    listed = {}
    for mode in ("auto", "legacy"):  # the 2026 stateless protocol, and the 2025 initialize handshake IDEs speak
        async with _client(gateway, chat["key"], mode) as client:
            listed[mode] = (await client.list_tools()).tools

    assert [t.name for t in listed["auto"]] == [t.name for t in listed["legacy"]] == ["ask", "search_memory", "search_knowledge"]
    ask, search_memory, search_knowledge = listed["auto"]
    assert (ask.input_schema["required"], sorted(ask.input_schema["properties"])) == (["message"], ["message", "session_id"])
    assert ask.output_schema["required"] == ["answer", "session_id", "message_id", "stopped"]
    assert (ask.annotations.read_only_hint, ask.annotations.destructive_hint) == (False, False)
    for search in (search_memory, search_knowledge):
        assert (search.input_schema["required"], search.annotations.read_only_hint) == (["query"], True)


async def test_a_request_without_a_chat_key_is_refused_with_the_api_error_shape_before_the_mcp_layer(api, gateway) -> None:
    metrics = await _key(api, "scraper", "metrics")
    revoked = await _key(api, "old", "chat")
    assert (await api.delete(f"/v1/keys/{revoked['id']}")).status_code == 200
    assert (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "member"})).status_code == 201
    unknown_key = errors.Unauthenticated("This API key is unknown, revoked or expired.")

    async with client_of(gateway) as stranger:
        answers = {"none": await stranger.post("/mcp", json=INITIALIZE, headers=MCP_ACCEPT)}
        for name, key in (("bad", "soma_not-a-key"), ("revoked", revoked["key"]), ("metrics", metrics["key"])):
            answers[name] = await stranger.post("/mcp", json=INITIALIZE, headers={**MCP_ACCEPT, "Authorization": f"Bearer {key}"})
    async with client_of(gateway) as browser:
        login = await browser.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
        headers = {**MCP_ACCEPT, "X-CSRF-Token": login.json()["csrf_token"]}
        answers["login"] = await browser.post("/mcp", json=INITIALIZE, headers=headers)

    def error(code: str, exc: errors.SomaError) -> dict:
        return {"error": {"code": code, "message": exc.message}}

    assert {name: (r.status_code, r.json()) for name, r in answers.items()} == {
        "none": (401, error("unauthenticated", errors.Unauthenticated())),
        "bad": (401, error("unauthenticated", unknown_key)),
        "revoked": (401, error("unauthenticated", unknown_key)),
        "metrics": (403, error("forbidden", errors.Forbidden("This credential lacks the 'chat' scope."))),
        "login": (401, error("unauthenticated", errors.McpNeedsKey())),
    }
    assert answers["bad"].headers["WWW-Authenticate"] == 'Bearer realm="soma"'
    assert answers["bad"].headers["Content-Security-Policy"].startswith("default-src 'self'")  # the gateway's middlewares stand in front
    with pytest.raises(BaseExceptionGroup) as sdk:  # the SDK's client gives up at its first request
        async with _client(gateway, "soma_not-a-key"):
            pass
    assert [(type(e), str(e)) for e in _leaves(sdk.value)] == [(MCPError, "Server returned an error response")]


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions in a (nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def test_ask_never_continues_a_chat_that_is_not_the_keys_own(api, gateway, database_url) -> None:
    ann, bob = await _key(api, "ann's agent", "chat"), await _key(api, "bob's agent", "chat")
    async with client_of(gateway, {"Authorization": f"Bearer {ann['key']}"}) as ann_api:
        anns_chat = (await ann_api.post("/v1/sessions", json={})).json()["id"]
    admins_chat = (await api.post("/v1/sessions", json={})).json()["id"]

    async with _client(gateway, bob["key"]) as client:
        refused = {chat: await client.call_tool("ask", {"message": "What did Ann say?", "session_id": chat}) for chat in (anns_chat, admins_chat)}
    async with connected(BASE_URL, ADMIN["Authorization"].split()[1], httpx2.ASGITransport(app=gateway)) as admin:
        refused["admin"] = await admin.call_tool("ask", {"message": "Hi", "session_id": anns_chat})  # not even an admin key

    expected = {chat: errors.McpChatNotFound(f"session_id {chat} is not one of this key's chats.").message for chat in (anns_chat, admins_chat)}
    expected["admin"] = expected[anns_chat]
    assert {name: (r.is_error, text(r), r.structured_content) for name, r in refused.items()} == {
        name: (True, message, None) for name, message in expected.items()
    }
    assert _rows(database_url, "SELECT count(*) FROM messages") == [(0,)]


async def test_bad_arguments_are_tool_errors_that_name_them(api, gateway, settings: config.Settings) -> None:
    chat = await _key(api, "ide", "chat")
    limit = settings.max_message_chars
    calls = {
        "blank message": ("ask", {"message": "  \n"}),
        "nul": ("ask", {"message": "a\x00b"}),
        "long message": ("ask", {"message": "x" * (limit + 1)}),
        "bad session": ("ask", {"message": "Hi", "session_id": "chat-7"}),
        "blank query": ("search_memory", {"query": ""}),
        "blank knowledge query": ("search_knowledge", {"query": " "}),
    }
    async with _client(gateway, chat["key"]) as client:
        results = {name: await client.call_tool(tool, arguments) for name, (tool, arguments) in calls.items()}

    invalid = errors.McpArgumentInvalid
    assert {name: (r.is_error, text(r)) for name, r in results.items()} == {
        "blank message": (True, invalid("`message` is empty.").message),
        "nul": (True, invalid("`message` contains a NUL (\\u0000) character, which cannot be stored.").message),
        "long message": (True, errors.MessageTooLarge(f"`message` has {limit + 1} characters; the limit is {limit}.").message),
        "bad session": (True, invalid("session_id 'chat-7' is not a chat id (a UUID, as `ask` returns).").message),
        "blank query": (True, invalid("`query` is empty.").message),
        "blank knowledge query": (True, invalid("`query` is empty.").message),
    }


async def test_a_body_over_the_gateways_limit_is_413_before_the_mcp_layer(api, gateway, settings: config.Settings) -> None:
    chat = await _key(api, "ide", "chat")
    limit = limits.max_body_bytes(settings.max_message_chars)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask", "arguments": {"message": "x" * limit}}}
    async with client_of(gateway, {"Authorization": f"Bearer {chat['key']}"}) as own:
        refused = await own.post("/mcp", json=call, headers=MCP_ACCEPT)

    message = errors.RequestTooLarge(f"The request body has {len(refused.request.content)} bytes; the limit is {limit}.").message
    assert (refused.status_code, refused.json()) == (413, {"error": {"code": "request_too_large", "message": message}})


async def test_ask_during_a_restore_is_a_tool_error_and_leaves_no_chat(api, gateway, database_url) -> None:
    chat = await _key(api, "ide", "chat")
    async with _client(gateway, chat["key"]) as client:
        with psycopg.connect(database_url) as restore:  # holds the gate as an applying restore does, until it ends
            restore.execute(f"SELECT pg_advisory_xact_lock({restore_lock.GATE})")
            result = await client.call_tool("ask", {"message": "Hello?"})

    assert (result.is_error, text(result)) == (True, errors.RestoreInProgress().message)
    assert _rows(database_url, "SELECT count(*) FROM chat_sessions") == [(0,)]


@pytest.fixture
async def impatient(settings: config.Settings, database_url: str) -> AsyncIterator[FastAPI]:
    """A gateway whose `ask` waits half a second for an answer."""
    app = gateway_app.create(settings.model_copy(update={"mcp_ask_timeout_seconds": 0.5}), database_url, embedding_model=EMBEDDER)
    async with app.router.lifespan_context(app):
        yield app


async def test_an_answer_that_does_not_come_in_time_is_a_tool_error_naming_the_timeout_and_the_chat_keeps_the_question(
    impatient, database_url
) -> None:
    async with client_of(impatient, ADMIN) as api:
        chat = await _key(api, "ide", "chat")
    async with _client(impatient, chat["key"]) as client:
        result = await client.call_tool("ask", {"message": "Take your time"})  # no worker: the turn stays queued

    [(session_id, question)] = _rows(database_url, "SELECT session_id, content FROM messages")
    message = errors.McpAnswerTimedOut("No answer came within 0.5 s (SOMA_MCP_ASK_TIMEOUT_SECONDS).").message
    assert (result.is_error, text(result)) == (True, f"{message} (session_id: {session_id})")
    assert question == "Take your time"
    async with client_of(impatient, {"Authorization": f"Bearer {chat['key']}"}) as own:
        assert [s["id"] for s in (await own.get("/v1/sessions")).json()["sessions"]] == [str(session_id)]


async def test_the_lockdown_ends_a_waiting_ask_with_a_tool_error_and_refuses_mcp_with_503(api, gateway, database_url) -> None:
    chat = await _key(api, "ide", "chat")
    async with _client(gateway, chat["key"]) as client:
        asking = asyncio.create_task(client.call_tool("ask", {"message": "Are you there?"}))
        await procs.eventually(lambda: _waiting(gateway), 10, "the ask to wait for its answer")
        await _enter_lockdown(database_url)
        result = await asyncio.wait_for(asking, 30)
    await procs.eventually(lambda: _locked(gateway), 10, "the gateway to see the lockdown")
    async with client_of(gateway, {"Authorization": f"Bearer {chat['key']}"}) as own:
        refused = await own.post("/mcp", json=INITIALIZE, headers=MCP_ACCEPT)

    [(session_id,)] = _rows(database_url, "SELECT id FROM chat_sessions")
    assert (result.is_error, text(result)) == (True, f"{errors.Lockdown().message} (session_id: {session_id})")
    assert (refused.status_code, refused.json()) == (503, {"error": {"code": "lockdown", "message": errors.Lockdown().message}})


async def _waiting(gateway: FastAPI) -> bool:
    return gateway.state.notifier.open_streams == 1


async def _locked(gateway: FastAPI) -> bool:
    return gateway.state.lockdown.active


async def _enter_lockdown(database_url: str) -> None:
    engine = db_engine.create(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await lockdown.enter(conn, "test", "test")
    finally:
        await engine.dispose()
