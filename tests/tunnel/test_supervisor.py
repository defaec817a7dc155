"""The supervisor in-process, running the stand-in cloudflared as a real child: URLs, tokens, crashes, switching off."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from soma import config
from soma.db import engine as db_engine
from soma.db import tables
from soma.tunnel import state, supervisor
from tests import openbao
from tests.fake_cloudflared import make_token

FAKE = str(Path(__file__).resolve().parent.parent / "fake_cloudflared.py")
PUBLIC_URL = "https://soma.example.org"
TOKEN_PATH = "cloudflare/tunnel-token"


class Running:
    """A supervisor on this test's event loop, its database, and what the stand-in recorded."""

    def __init__(self, engine, record: Path) -> None:
        self.engine = engine
        self.record = record

    async def want(self, enabled: bool, mode: str = "token") -> None:
        """Switch as the API or the emergency stop would: the row alone."""
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(tables.tunnel_state).values(enabled=enabled, mode=mode))

    async def row(self) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return await state.read(conn)

    def events(self, kind: str) -> list[dict]:
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        return [e for e in map(json.loads, lines) if e["event"] == kind]

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            found = await found if asyncio.iscoroutine(found) else found
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; record: {self.events('start')}")

    async def state_is(self, wanted: str, timeout: float = 10) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            row = await self.row()
            return row if row["state"] == wanted else None

        return await self.until(check, f"state {wanted}", timeout)


@pytest.fixture
async def run_supervisor(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator:
    """Start the supervisor with settings of the test's choosing; stops it (and so cloudflared) at the end."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.delenv("SOMA_TUNNEL_TOKEN", raising=False)
    record = tmp_path / "cloudflared.jsonl"
    monkeypatch.setenv("FAKE_CLOUDFLARED_RECORD", str(record))
    started: list[tuple[asyncio.Event, asyncio.Task, Any]] = []

    async def start(**values: Any) -> Running:
        chosen = {"cloudflared": FAKE, "public_url": PUBLIC_URL, "port": 18080, "tunnel_origin_port": 18081, "secret_reload_seconds": 0.2, **values}
        settings = config.Settings(_env_file=None, tunnel_metrics_port=0, **chosen)
        engine = db_engine.create(database_url, pool_size=2)
        stop = asyncio.Event()
        task = asyncio.create_task(supervisor.Supervisor(settings, engine).run(stop))
        started.append((stop, task, engine))
        return Running(engine, record)

    yield start
    for stop, task, engine in started:
        stop.set()
        await asyncio.wait_for(task, 10)
        await engine.dispose()


async def test_a_quick_tunnel_reports_the_url_cloudflared_printed(run_supervisor) -> None:
    tunnel = await run_supervisor()
    await tunnel.want(True, "quick")
    row = await tunnel.state_is("connected")
    assert re.fullmatch(r"https://[0-9a-f-]+\.trycloudflare\.com", row["public_url"]), row
    assert row["last_error"] is None and row["reported_at"] is not None
    [start] = tunnel.events("start")
    assert start["argv"] == ["tunnel", "--no-autoupdate", "--url", "http://127.0.0.1:18081"]  # the tunnel's door, not SOMA_PORT
    assert start["token"] is None


async def test_a_door_listening_everywhere_is_reached_on_loopback(run_supervisor) -> None:
    tunnel = await run_supervisor(tunnel_origin_host="0.0.0.0", tunnel_origin_port=18082)
    await tunnel.want(True, "quick")
    await tunnel.state_is("connected")
    assert tunnel.events("start")[0]["argv"][-2:] == ["--url", "http://127.0.0.1:18082"]


def test_the_origin_is_the_url_given_else_the_door_on_this_machine() -> None:
    def origin(**values: Any) -> str | None:
        return state.origin(config.Settings(_env_file=None, **values))

    assert origin() == "http://127.0.0.1:8081"
    assert origin(tunnel_origin="http://gateway:8081/", tunnel_origin_port=0) == "http://gateway:8081"
    assert (origin(tunnel_origin_host="::1"), origin(tunnel_origin_host="::")) == ("http://[::1]:8081", "http://127.0.0.1:8081")
    assert origin(tunnel_origin_port=0) is None


async def test_a_quick_tunnel_without_a_door_fails_instead_of_using_the_normal_listener(run_supervisor) -> None:
    tunnel = await run_supervisor(tunnel_origin_port=0)
    await tunnel.want(True, "quick")
    row = await tunnel.state_is("failed")
    assert row["last_error"] == supervisor.NO_ORIGIN
    assert tunnel.events("start") == []


async def test_the_token_comes_from_openbao_and_a_rotated_token_restarts_cloudflared(run_supervisor, vault, caplog) -> None:
    vault.forget(TOKEN_PATH)
    first, second = make_token("first-secret"), make_token("second-secret")
    vault.write_key(first, TOKEN_PATH)
    tunnel = await run_supervisor(vault_addr=vault.addr, vault_token=openbao.ROOT_TOKEN)
    await tunnel.want(True, "token")
    row = await tunnel.state_is("connected")
    assert (row["public_url"], row["last_error"]) == (PUBLIC_URL, None)
    assert [(e["argv"], e["token"]) for e in tunnel.events("start")] == [(["tunnel", "--no-autoupdate", "run"], first)]

    vault.write_key(second, TOKEN_PATH)
    await tunnel.until(lambda: len(tunnel.events("start")) == 2, "cloudflared restarted with the new token")
    assert [e["token"] for e in tunnel.events("start")] == [first, second]
    assert [e["code"] for e in tunnel.events("exit")] == [0]  # the old one was stopped with SIGTERM
    await tunnel.state_is("connected")
    assert "first-secret" not in caplog.text and first not in caplog.text and second not in caplog.text


async def test_without_a_token_the_tunnel_fails_naming_where_it_looked(run_supervisor) -> None:
    tunnel = await run_supervisor(secret_sources="env")
    await tunnel.want(True, "token")
    row = await tunnel.state_is("failed")
    assert row["last_error"] == (
        "No tunnel token in environment SOMA_TUNNEL_TOKEN: SOMA_TUNNEL_TOKEN is not set (environment or .env). "
        "Store it there, or switch to a quick tunnel."
    )
    assert tunnel.events("start") == []


async def test_a_crashed_cloudflared_is_started_again_after_a_growing_backoff(run_supervisor, tmp_path, monkeypatch, caplog) -> None:
    crash = tmp_path / "crash"
    crash.write_text("0.05")
    monkeypatch.setenv("FAKE_CLOUDFLARED_CRASH_FILE", str(crash))
    caplog.set_level(logging.WARNING, logger="soma.tunnel.supervisor")
    tunnel = await run_supervisor()
    await tunnel.want(True, "quick")
    row = await tunnel.state_is("failed")
    reason = 'cloudflared exited with code 1: Couldn\'t start tunnel error="connection with edge closed"'
    assert row["last_error"] == reason
    await tunnel.until(lambda: len(tunnel.events("start")) == 2, "a second start")
    crash.unlink()
    row = await tunnel.state_is("connected")
    assert len(tunnel.events("start")) == 3 and [e["code"] for e in tunnel.events("exit")] == [1, 1]
    assert row["last_error"] == reason  # the last error stays visible
    waits = re.findall(r"starting it again in ([0-9.]+) s", caplog.text)
    assert waits == ["1.0", "2.0"]


async def test_switching_off_in_the_database_stops_cloudflared_within_a_poll(run_supervisor) -> None:
    tunnel = await run_supervisor()
    await tunnel.want(True, "quick")
    await tunnel.state_is("connected")
    await tunnel.want(False)
    await tunnel.until(lambda: tunnel.events("exit"), "cloudflared to exit", timeout=2)
    assert [e["code"] for e in tunnel.events("exit")] == [0]
    row = await tunnel.state_is("off", timeout=2)
    assert (row["public_url"], row["last_error"]) == (None, None)


async def test_a_missing_binary_is_a_failure_naming_the_setting(run_supervisor) -> None:
    tunnel = await run_supervisor(cloudflared="/nonexistent/cloudflared")
    await tunnel.want(True, "quick")
    row = await tunnel.state_is("failed")
    assert row["last_error"] == (
        "SOMA_CLOUDFLARED='/nonexistent/cloudflared' cannot run (No such file or directory): "
        "install cloudflared or set SOMA_CLOUDFLARED to its path."
    )
