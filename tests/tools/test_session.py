"""One session with a real MCP server (the scripted one, over stdio and HTTP): listing, calls, and what bounds them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soma import config
from soma.tools import references, servers, session
from tests import procs
from tests.tools.servers import start_http, stdio_entry

SETTINGS = config.Settings(_env_file=None)
SCRIPTED_TOOLS = ["append", "read_lines", "add", "sleep", "crash", "shout", "fail", "environment", "env", "flood_stderr"]


def configured(entry: dict, name: str = "scripted") -> tuple[servers.Server, references.Resolved]:
    server = servers.parse(name, entry, SETTINGS)
    return server, references.Resolver(SETTINGS).resolve(dict(server.env or {}), dict(server.headers or {}))


async def test_a_stdio_server_is_connected_its_tools_listed_and_called() -> None:
    server, resolved = configured(stdio_entry())
    async with session.open(server, resolved) as opened:
        assert [tool["name"] for tool in opened.tools] == SCRIPTED_TOOLS
        assert opened.tools[2] == {
            "name": "add", "description": "The sum of a and b.", "annotations": {"idempotentHint": True},
            "input_schema": {"type": "object", "title": "addArguments", "required": ["a", "b"],
                             "properties": {"a": {"title": "A", "type": "number"}, "b": {"title": "B", "type": "number"}}},
        }  # fmt: skip
        assert [session.spec("scripted", t).repeatable for t in opened.tools[:4]] == [False, True, True, True]
        assert await opened.call("add", {"a": 2, "b": 3}) == session.ToolResult(True, "5.0")
        failed = await opened.call("fail", {"reason": "no such file"})
        assert failed == session.ToolResult(False, "Error executing tool fail: no such file", "tool_error")


async def test_an_http_server_is_connected_with_its_header_and_refused_without(launcher: procs.Launcher) -> None:
    http = start_http(launcher, "--require-header", "X-Scripted-Gate=let-me-in-0123")
    server, resolved = configured({"url": http.url, "headers": {"X-Scripted-Gate": "let-me-in-0123"}})
    async with session.open(server, resolved) as opened:
        assert [tool["name"] for tool in opened.tools] == SCRIPTED_TOOLS
        assert (await opened.call("add", {"a": 1, "b": 1})).text == "2.0"
    server, resolved = configured({"url": http.url, "headers": {"X-Scripted-Gate": "wrong-value-0000"}})
    link = session.Link()
    with pytest.raises(Exception) as caught:
        async with session.open(server, resolved, link):
            pass
    assert session.describe(caught.value, link, server) == "the server answered HTTP 401 Unauthorized"


async def test_a_hung_call_times_out_as_an_error_result_and_the_server_keeps_answering() -> None:
    server, resolved = configured(stdio_entry(call_timeout=0.5))
    async with session.open(server, resolved) as opened:
        hung = await opened.call("sleep", {"seconds": 60})
        assert hung == session.ToolResult(
            False, "The tool 'sleep' of the server 'scripted' did not answer within 0.5 s (its call_timeout).", "timeout"
        )
        assert (await opened.call("add", {"a": 1, "b": 2})).text == "3.0"


async def test_a_server_that_never_answers_at_start_fails_after_its_init_timeout() -> None:
    server, resolved = configured(stdio_entry("--hang-at-start", init_timeout=0.5))
    link = session.Link()
    with pytest.raises(TimeoutError) as caught:
        async with session.open(server, resolved, link):
            pass
    assert session.describe(caught.value, link, server) == "it did not answer within 0.5 s (its init_timeout)"
    assert link.process is not None and link.process.returncode is not None  # stopped, not left behind


async def test_a_result_over_the_output_cap_is_cut_with_a_note() -> None:
    server, resolved = configured(stdio_entry(output_cap=1000))
    async with session.open(server, resolved) as opened:
        result = await opened.call("shout", {"size": 5000})
        assert result == session.ToolResult(True, "A" * 1000 + "\n\n[Soma cut this result: it had 5000 bytes, only the first 1000 are shown.]")
        assert (await opened.call("shout", {"size": 1000})).text == "A" * 1000


async def test_a_server_flooding_stderr_is_drained_into_a_bounded_tail() -> None:
    server, resolved = configured(stdio_entry())
    link = session.Link()
    async with session.open(server, resolved, link) as opened:
        assert (await opened.call("flood_stderr", {"size": 32 * 1024 * 1024})).text == "flooded stderr"
        assert (await opened.call("add", {"a": 1, "b": 2})).text == "3.0"
        assert link.process is not None and len(link.process.stderr) == 4096
        assert set(link.process.stderr.text()) <= {"E", "\n"}


async def test_a_message_over_the_limit_ends_the_connection_instead_of_filling_memory() -> None:
    server, resolved = configured(stdio_entry("--flood-stdout-at-start", str(17 * 1024 * 1024)))
    link = session.Link()
    with pytest.raises(Exception) as caught:
        async with session.open(server, resolved, link):
            pass
    assert link.ended.is_set()
    assert session.describe(caught.value, link, server) == "it sent a message over 16 MiB"


async def test_a_stdio_server_gets_only_the_minimal_environment_and_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"SOMA_DATABASE_URL": "postgresql://soma:pw@db/soma", "SOMA_VAULT_TOKEN": "hvs.worker-token",
                        "SOMA_SLM_API_KEY": "sk-worker", "HTTPS_PROXY": "http://proxy:3128", "TZ": "Europe/Paris"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    server, resolved = configured(stdio_entry(env={"SCRIPTED_APPEND_FILE": "/tmp/x", "LOG_LEVEL": "debug"}))
    async with session.open(server, resolved) as opened:
        names = json.loads((await opened.call("environment", {})).text)
    inherited = [name for name in config.TOOL_SERVER_ENVIRONMENT if name in config.tool_server_environment()]
    assert "TZ" in inherited and "PATH" in inherited
    # Python adds LC_CTYPE itself when it coerces the C locale; nothing else appears that Soma did not give.
    assert sorted(set(names) - {"LC_CTYPE"}) == sorted({*inherited, "SCRIPTED_APPEND_FILE", "LOG_LEVEL"} - {"LC_CTYPE"})


async def test_a_secret_a_server_sends_back_is_redacted_from_results_errors_and_stderr(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("tok-3f9a8c7e1d2b\n")
    server, resolved = configured(stdio_entry(env={"SCRIPTED_TOKEN": f"file:{secret}"}))
    assert resolved.env["SCRIPTED_TOKEN"] == "tok-3f9a8c7e1d2b"
    async with session.open(server, resolved) as opened:
        assert await opened.call("env", {"name": "SCRIPTED_TOKEN"}) == session.ToolResult(True, "[secret]")
        failed = await opened.call("fail", {"reason": "token tok-3f9a8c7e1d2b was refused"})
        assert failed.text == "Error executing tool fail: token [secret] was refused"
    server, resolved = configured(stdio_entry("--leak-env", "SCRIPTED_TOKEN", "--exit-at-start", "3", env={"SCRIPTED_TOKEN": f"file:{secret}"}))
    link = session.Link()
    with pytest.raises(Exception) as caught:
        async with session.open(server, resolved, link):
            pass
    error = resolved.redact(session.describe(caught.value, link, server))
    assert error == (
        "it exited with code 3; its stderr ended with: scripted: starting with SCRIPTED_TOKEN=[secret]\n"
        "scripted: told to exit with 3"
    )


async def test_the_workers_proxy_settings_are_not_used_for_tool_servers(
    launcher: procs.Launcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "proxy-saw.jsonl"
    proxy = start_http(launcher, "--record-headers", str(seen))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url.removesuffix("/mcp"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = start_http(launcher)
    server, resolved = configured({"url": target.url.replace("127.0.0.1", "localhost")})
    async with session.open(server, resolved) as opened:
        assert (await opened.call("add", {"a": 1, "b": 2})).text == "3.0"
    assert not seen.exists()


async def test_a_redirect_to_another_origin_is_not_followed_with_the_servers_headers(
    launcher: procs.Launcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "elsewhere-saw.jsonl"
    elsewhere = start_http(launcher, "--record-headers", str(seen))
    redirecting = start_http(launcher, "--redirect-to", elsewhere.url)
    monkeypatch.setenv("SCRIPTED_HTTP_TOKEN", "hdr-77a1b2c3d4e5")
    server, resolved = configured({"url": redirecting.url, "headers": {"X-Token": "env:SCRIPTED_HTTP_TOKEN"}})
    assert resolved.headers == {"X-Token": "hdr-77a1b2c3d4e5"}
    with pytest.raises(Exception):
        async with session.open(server, resolved):
            pass
    assert not seen.exists()
