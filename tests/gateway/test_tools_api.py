"""/v1/tools: the overview members read, the servers and choices admins change (probed at once, audited)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import psycopg

from soma.tools import builtins, sandbox_status
from tests.conftest import client_of
from tests.tools.servers import stdio_entry

PASSWORD = "correct horse battery"
BUILTINS = [
    {"name": s.name, "server": "soma", "description": s.description, "input_schema": s.input_schema, "enabled": True, "approval": "auto"}
    | ({"available": False, "reason": sandbox_status.NOT_CHECKED} if s.name == "run_code" else {"available": True, "reason": None})
    for s in builtins.SPECS
]


@contextlib.asynccontextmanager
async def member(api: httpx.AsyncClient, gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A member logged in as in the web UI."""
    assert (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "member"})).status_code == 201
    async with client_of(gateway) as client:
        response = await client.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


async def test_the_overview_lists_the_built_ins_first_each_enabled_and_auto(api) -> None:
    response = await api.get("/v1/tools")
    assert (response.status_code, response.json()) == (200, {"servers": [], "tools": BUILTINS})


async def test_a_put_stores_the_server_probes_it_and_says_it_works(api) -> None:
    response = await api.put("/v1/tools/servers/scripted", json={"transport": "stdio", **stdio_entry()})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "scripted", "transport": "stdio", "state": "connected", "error": None,
        "tools": ["append", "read_lines", "add", "sleep", "crash", "shout", "fail", "environment", "env", "flood_stderr"],
    }  # fmt: skip
    listed = (await api.get("/v1/tools")).json()
    assert listed["servers"] == [{"name": "scripted", "transport": "stdio", "state": "connected", "error": None}]
    add = next(t for t in listed["tools"] if t["server"] == "scripted" and t["name"] == "add")
    assert (add["description"], add["enabled"], add["approval"], add["input_schema"]["required"]) == ("The sum of a and b.", True, "auto", ["a", "b"])


async def test_a_server_that_fails_its_probe_is_kept_and_shown_with_its_error(api) -> None:
    response = await api.put("/v1/tools/servers/dying", json=stdio_entry("--exit-at-start", "4"))
    expected = {"name": "dying", "transport": "stdio", "state": "failed", "error": "it exited with code 4; its stderr ended with: scripted: told to exit with 4"}
    assert (response.status_code, response.json()) == (200, {**expected, "tools": []})
    assert (await api.get("/v1/tools")).json()["servers"] == [expected]


async def test_import_export_and_delete_round_trip_the_mcpservers_document(api) -> None:
    document = {
        "mcpServers": {
            "local": stdio_entry(init_timeout=30),
            "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "vault:kv/mcp/github#token"}, "disabled": True},
            "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer env:REMOTE_MCP_TOKEN"}, "disabled": True},
        }
    }  # fmt: skip
    response = await api.put("/v1/tools/servers", json=document)
    assert response.status_code == 200, response.text
    assert response.json()["servers"] == [
        {"name": "github", "transport": "stdio", "state": "disabled", "error": None},
        {"name": "local", "transport": "stdio", "state": "connected", "error": None},
        {"name": "remote", "transport": "streamable-http", "state": "disabled", "error": None},
    ]
    assert (await api.get("/v1/tools/servers")).json() == document
    assert (await api.delete("/v1/tools/servers/github")).status_code == 204
    del document["mcpServers"]["github"]
    assert (await api.get("/v1/tools/servers")).json() == document
    again = await api.delete("/v1/tools/servers/github")
    assert (again.status_code, again.json()["error"]) == (404, {
        "code": "tool_server_not_found",
        "message": "No tool server is named 'github'. No tool server has this name. `GET /v1/tools` (or `soma tools list`) lists them.",
    })  # fmt: skip
    assert (await api.put("/v1/tools/servers", json={"mcpServers": {}})).json()["servers"] == []
    assert (await api.get("/v1/tools/servers")).json() == {"mcpServers": {}}


async def test_a_replace_with_one_bad_entry_changes_nothing(api) -> None:
    kept = {"mcpServers": {"kept": {"command": "npx", "disabled": True}}}
    assert (await api.put("/v1/tools/servers", json=kept)).status_code == 200
    response = await api.put("/v1/tools/servers", json={"mcpServers": {
        "fine": {"command": "npx", "disabled": True},
        "leaky": {"url": "https://mcp.example.com/mcp", "headers": {"X-Api-Key": "sk-live-0123456789"}},
    }})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_tool_server"
    assert response.json()["error"]["message"].startswith("Tool server 'leaky': 'headers.X-Api-Key' holds a plain value under a secret's name")
    assert "sk-live-0123456789" not in response.text
    assert (await api.get("/v1/tools/servers")).json() == kept


async def test_a_choice_is_set_per_tool_and_an_unknown_tool_is_404(api) -> None:
    assert (await api.put("/v1/tools/servers/scripted", json=stdio_entry())).json()["state"] == "connected"
    response = await api.patch("/v1/tools/soma/remember", json={"approval": "ask"})
    assert (response.status_code, response.json()) == (200, {"enabled": True, "approval": "ask"})
    assert (await api.patch("/v1/tools/scripted/append", json={"enabled": False})).json() == {"enabled": False, "approval": "auto"}
    assert (await api.patch("/v1/tools/scripted/append", json={"approval": "ask"})).json() == {"enabled": False, "approval": "ask"}
    tools = {(t["server"], t["name"]): (t["enabled"], t["approval"]) for t in (await api.get("/v1/tools")).json()["tools"]}
    assert (tools[("soma", "remember")], tools[("scripted", "append")], tools[("scripted", "add")]) == ((True, "ask"), (False, "ask"), (True, "auto"))
    unknown = await api.patch("/v1/tools/scripted/nope", json={"enabled": False})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "tool_not_found")
    assert (await api.patch("/v1/tools/elsewhere/add", json={"enabled": False})).status_code == 404
    bad = await api.patch("/v1/tools/scripted/add", json={"approval": "sometimes"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_tool_choice")


async def test_a_member_reads_the_tools_but_every_write_and_the_export_are_refused(api, gateway) -> None:
    assert (await api.put("/v1/tools/servers/github", json={"command": "npx", "disabled": True})).status_code == 200
    async with member(api, gateway) as ann:
        listed = await ann.get("/v1/tools")
        assert (listed.status_code, listed.json()["servers"]) == (200, [{"name": "github", "transport": "stdio", "state": "disabled", "error": None}])
        for method, path, body in (
            ("GET", "/v1/tools/servers", None),
            ("PUT", "/v1/tools/servers", {"mcpServers": {}}),
            ("PUT", "/v1/tools/servers/evil", {"command": "sh"}),
            ("DELETE", "/v1/tools/servers/github", None),
            ("PATCH", "/v1/tools/soma/remember", {"approval": "auto"}),
        ):  # fmt: skip
            response = await ann.request(method, path, json=body)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden"), (method, path)
    assert (await api.get("/v1/tools/servers")).json() == {"mcpServers": {"github": {"command": "npx", "disabled": True}}}


async def test_every_change_is_audited_with_names_never_values(api, database_url: str) -> None:
    entry = {"command": "npx", "env": {"GITHUB_TOKEN": "vault:kv/mcp/github#token", "LOG_LEVEL": "very-distinct-value"}, "disabled": True}
    await api.put("/v1/tools/servers/github", json=entry)
    await api.patch("/v1/tools/soma/forget", json={"approval": "ask"})
    await api.put("/v1/tools/servers", json={"mcpServers": {"other": {"command": "uvx", "disabled": True}}})
    await api.delete("/v1/tools/servers/other")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT action, target, details FROM audit_log WHERE action LIKE 'tools.%' ORDER BY id").fetchall()
        actors = conn.execute("SELECT DISTINCT actor FROM audit_log WHERE action LIKE 'tools.%'").fetchall()
    assert rows == [
        ("tools.server.updated", "github", {"transport": "stdio", "disabled": True}),
        ("tools.tool.updated", "soma/forget", {"approval": "ask"}),
        ("tools.servers.replaced", "tool servers", {"servers": ["other"], "removed": ["github"]}),
        ("tools.server.removed", "other", {}),
    ]
    assert actors == [("key:bootstrap admin (SOMA_BOOTSTRAP_ADMIN_KEY)",)]


async def test_the_servers_path_is_never_read_as_a_servers_tool(api) -> None:
    for method in ("PATCH", "OPTIONS"):
        response = await api.request(method, "/v1/tools/servers/github", json={"enabled": False})
        assert (response.status_code, response.headers["allow"]) == (405, "DELETE, PUT"), method
    taken = await api.put("/v1/tools/servers/servers", json={"command": "npx"})
    assert (taken.status_code, taken.json()["error"]["code"]) == (422, "invalid_tool_server")
    odd = await api.put("/v1/tools/servers/odd", json={"transport": {}, "command": "npx"})
    assert odd.status_code == 422 and "the transport {} is not one of stdio, streamable-http" in odd.json()["error"]["message"]
