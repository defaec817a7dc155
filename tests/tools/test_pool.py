"""A worker's pool of tool server connections against a real database and real MCP servers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from soma import config
from soma.auth import admin
from soma.db import engine as db_engine
from soma.tools import overview, pool, servers, store
from tests import openbao, procs
from tests.tools.servers import SCRIPTED, start_http, stdio_entry

ACTOR = admin.Actor("cli:test@host")


def settings(**overrides: Any) -> config.Settings:
    return config.Settings(_env_file=None, secret_reload_seconds=0.2, **overrides)


@contextlib.asynccontextmanager
async def running(database_url: str, chosen: config.Settings, **entries: dict) -> AsyncIterator[tuple[pool.Pool, Any]]:
    """The servers stored, and a started pool on them; closed at the end."""
    engine = db_engine.create(database_url, pool_size=2)
    async with engine.begin() as conn:
        for name, entry in entries.items():
            await store.put(conn, ACTOR, servers.parse(name, entry, chosen))
    tools = pool.Pool(engine, database_url, chosen)
    await tools.start()
    try:
        yield tools, engine
    finally:
        await tools.close()
        await engine.dispose()


async def shown(engine: Any, chosen: config.Settings) -> dict[str, tuple[str, str | None]]:
    async with engine.connect() as conn:
        listed = await overview.describe(conn, chosen)
    return {server["name"]: (server["state"], server["error"]) for server in listed["servers"]}


def tool(tools: pool.Pool, function_name: str):
    return next((t for t in tools.tools() if t.spec.function_name == function_name), None)


def starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def test_the_pool_connects_every_enabled_server_and_offers_its_tools(database_url: str) -> None:
    chosen = settings()
    async with running(database_url, chosen, scripted=stdio_entry(), off=stdio_entry(disabled=True)) as (tools, engine):
        await procs.eventually(lambda: tool(tools, "scripted__add"), 30, "the scripted server's tools")
        assert sorted({t.spec.server for t in tools.tools()}) == ["scripted"]
        assert (tool(tools, "scripted__read_lines").spec.repeatable, tool(tools, "scripted__append").spec.repeatable) == (True, False)
        assert (await tool(tools, "scripted__add").run({"a": 40, "b": 2})).text == "42.0"
        await procs.eventually(lambda: _connected(engine, chosen, "scripted"), 10, "the catalogue to say connected")
        assert (await shown(engine, chosen))["off"] == ("disabled", None)


async def _connected(engine: Any, chosen: config.Settings, name: str) -> bool:
    return (await shown(engine, chosen))[name] == ("connected", None)


async def test_settling_waits_until_each_server_has_connected_or_failed_so_a_first_turn_gets_the_tools(database_url: str) -> None:
    chosen = settings()
    async with running(database_url, chosen, hung=stdio_entry("--hang-at-start", init_timeout=0.5), scripted=stdio_entry()) as (tools, _engine):
        await tools.settle()
        assert tool(tools, "scripted__add") is not None
        assert tools.states() == {"hung": ("failed", "it did not answer within 0.5 s (its init_timeout)"), "scripted": ("connected", None)}


async def test_a_crashed_server_is_restarted_with_backoff_and_its_error_shown(database_url: str, tmp_path: Path) -> None:
    chosen = settings()
    started = tmp_path / "starts"
    async with running(database_url, chosen, scripted=stdio_entry(env={"SCRIPTED_STARTS_FILE": str(started)})) as (tools, engine):
        crash = await procs.eventually(lambda: tool(tools, "scripted__crash"), 30, "the scripted server's tools")
        result = await crash.run({})
        assert (result.ok, result.error) == (False, "error")
        await procs.eventually(
            lambda: _state_is(engine, chosen, "scripted", ("failed", "it exited with code 3")), 10, "the crash shown as failed"
        )
        again = await procs.eventually(lambda: tool(tools, "scripted__add"), 30, "the server restarted")
        assert (await again.run({"a": 1, "b": 2})).text == "3.0"
        assert starts(started) == 2
        await procs.eventually(lambda: _connected(engine, chosen, "scripted"), 10, "the catalogue to say connected again")


async def _state_is(engine: Any, chosen: config.Settings, name: str, expected: tuple[str, str | None]) -> bool:
    return (await shown(engine, chosen)).get(name) == expected


async def test_a_server_that_dies_at_every_start_is_shown_failed_with_its_exit_and_stderr(database_url: str, tmp_path: Path) -> None:
    chosen = settings()
    started = tmp_path / "starts"
    dying = stdio_entry("--exit-at-start", "5", env={"SCRIPTED_STARTS_FILE": str(started)})
    async with running(database_url, chosen, dying=dying, scripted=stdio_entry()) as (tools, engine):
        expected = ("failed", "it exited with code 5; its stderr ended with: scripted: told to exit with 5")
        await procs.eventually(lambda: _state_is(engine, chosen, "dying", expected), 30, "the dying server shown failed")
        await procs.eventually(lambda: starts(started) >= 3, 30, "the dying server started again, with backoff")
        assert tools.states()["dying"] == expected
        assert [t for t in tools.tools() if t.spec.server == "dying"] == []
        await procs.eventually(lambda: tool(tools, "scripted__add"), 30, "the other server's tools")


async def test_a_server_that_never_answers_at_start_fails_after_its_init_timeout_and_the_others_keep_working(database_url: str) -> None:
    chosen = settings()
    async with running(database_url, chosen, hung=stdio_entry("--hang-at-start", init_timeout=0.5), scripted=stdio_entry()) as (tools, engine):
        expected = ("failed", "it did not answer within 0.5 s (its init_timeout)")
        await procs.eventually(lambda: _state_is(engine, chosen, "hung", expected), 30, "the hung server shown failed")
        add = await procs.eventually(lambda: tool(tools, "scripted__add"), 30, "the other server's tools")
        assert (await add.run({"a": 2, "b": 2})).text == "4.0"


async def test_a_change_to_the_tool_servers_reaches_a_running_pool(database_url: str, tmp_path: Path) -> None:
    chosen = settings()
    started = tmp_path / "starts"
    async with running(database_url, chosen) as (tools, engine):
        assert tools.tools() == []
        async with engine.begin() as conn:
            await store.put(conn, ACTOR, servers.parse("scripted", stdio_entry(env={"SCRIPTED_STARTS_FILE": str(started)}), chosen))
        sleep = await procs.eventually(lambda: tool(tools, "scripted__sleep"), 30, "the new server's tools")
        async with engine.begin() as conn:  # a new call_timeout applies without connecting again
            await store.put(conn, ACTOR, servers.parse("scripted", stdio_entry(env={"SCRIPTED_STARTS_FILE": str(started)}, call_timeout=0.3), chosen))
        await procs.eventually(lambda: tool(tools, "scripted__sleep").connection.server.call_timeout == 0.3, 10, "the new timeout")
        assert (await sleep.run({"seconds": 30})).error == "timeout"
        assert starts(started) == 1
        async with engine.begin() as conn:
            await store.remove(conn, ACTOR, "scripted")
        await procs.eventually(lambda: tools.tools() == [], 10, "the removed server's tools gone")
        assert tools.states() == {}


async def test_a_vault_secret_a_server_refuses_is_read_again_and_the_server_works_once_it_is_changed(
    database_url: str, vault: openbao.OpenBao, launcher: procs.Launcher
) -> None:
    chosen = settings(**vault.env())
    vault.write_key("the-old-token-1234", path="mcp/scripted")
    wanted = "sha256:" + hashlib.sha256(b"the-new-token-5678").hexdigest()  # the secret itself is in no command line
    http = start_http(launcher, "--require-header", f"X-Scripted-Gate={wanted}")
    entries = {
        "local": stdio_entry("--require-env", f"SCRIPTED_KEY={wanted}", env={"SCRIPTED_KEY": "vault:kv/mcp/scripted"}),
        "remote": {"url": http.url, "headers": {"X-Scripted-Gate": "vault:kv/mcp/scripted#value"}},
    }
    async with running(database_url, chosen, **entries) as (tools, engine):
        refused_locally = ("failed", "it exited with code 2; its stderr ended with: scripted: SCRIPTED_KEY is missing or wrong; refusing to start")
        await procs.eventually(lambda: _state_is(engine, chosen, "local", refused_locally), 30, "the stdio server refusing its secret")
        refused_remotely = ("failed", "the server answered HTTP 401 Unauthorized")
        await procs.eventually(lambda: _state_is(engine, chosen, "remote", refused_remotely), 30, "the HTTP server refusing its secret")
        vault.write_key("the-new-token-5678", path="mcp/scripted")
        for name in ("local", "remote"):
            add = await procs.eventually(lambda: tool(tools, f"{name}__add"), 30, f"{name} connected with the new secret")
            assert (await add.run({"a": 1, "b": 1})).text == "2.0"
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.text("SELECT config::text FROM tool_servers ORDER BY name"))).scalars().all()
        assert not any("the-new-token" in text or "the-old-token" in text for text in stored)


async def test_a_published_mcp_server_from_pypi_works_over_stdio(database_url: str) -> None:
    chosen = settings()
    # mcp-server-time (PyPI, the dev extra) needs mcp>=2.3,<3: our pin. The child gets no PYTHONPATH of ours
    # (its environment is explicit), so the entry hands it this interpreter's import path, as an operator might.
    path = os.pathsep.join(entry for entry in sys.path if entry)
    entry = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], "env": {"PYTHONPATH": path}}
    async with running(database_url, chosen, time=entry) as (tools, _engine):
        convert = await procs.eventually(lambda: tool(tools, "time__convert_time"), 30, "mcp-server-time's tools")
        assert sorted(t.spec.name for t in tools.tools()) == ["convert_time", "get_current_time"]
        result = await convert.run({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
        assert result.ok and '"timezone": "Asia/Tokyo"' in result.text and "T21:00:00+09:00" in result.text


async def test_closing_the_pool_stops_every_server_even_one_still_starting(database_url: str, tmp_path: Path) -> None:
    chosen = settings()
    started = tmp_path / "starts"
    entries = {
        "hung": stdio_entry("--hang-at-start", env={"SCRIPTED_STARTS_FILE": str(started)}, init_timeout=600),
        "scripted": stdio_entry(env={"SCRIPTED_STARTS_FILE": str(started)}),
    }
    async with running(database_url, chosen, **entries) as (tools, _engine):
        await procs.eventually(lambda: tool(tools, "scripted__add") and starts(started) == 2, 30, "both servers started")
    pids = [int(line) for line in started.read_text().split()]
    assert [procs.pid_alive(pid) for pid in pids] == [False, False]


async def test_an_http_server_that_goes_away_is_shown_failed_and_used_again_once_it_is_back(
    database_url: str, launcher: procs.Launcher
) -> None:
    chosen = settings()
    http = start_http(launcher)
    async with running(database_url, chosen, remote={"url": http.url}) as (tools, engine):
        add = await procs.eventually(lambda: tool(tools, "remote__add"), 30, "the HTTP server's tools")
        http.proc.stop()
        gone = await add.run({"a": 1, "b": 2})
        assert (gone.ok, gone.error) == (False, "error")
        await procs.eventually(lambda: (tools.states()["remote"][1] or "").startswith("cannot reach http://127.0.0.1:"), 30, "the failure shown")
        port = http.url.split(":")[2].split("/")[0]
        launcher.start("mcp-http-again", [sys.executable, SCRIPTED, "--http", port], {})
        again = await procs.eventually(lambda: tool(tools, "remote__add"), 60, "the HTTP server used again")
        assert (await again.run({"a": 2, "b": 3})).text == "5.0"
