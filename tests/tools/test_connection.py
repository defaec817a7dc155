"""One tool server's connection on its own, against the real scripted MCP server: what it does while idle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from soma import config
from soma.tools import connections, servers
from soma.tools.references import Resolver
from tests import procs
from tests.tools.servers import stdio_entry

LISTED_AGAIN = "listed its 10 tools again"


async def test_an_idle_connection_lists_its_tools_again_and_stays_connected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=connections.__name__)
    chosen = config.Settings(_env_file=None)
    started = tmp_path / "starts"
    server = servers.parse("scripted", stdio_entry(env={"SCRIPTED_STARTS_FILE": str(started)}), chosen)
    reports: list[tuple[str, str | None]] = []

    async def report(_server: servers.Server, state: str, error: str | None, _tools: Any) -> None:
        reports.append((state, error))

    connection = connections.Connection(server, Resolver(chosen), report, reload_seconds=0.05, relist_seconds=0.1)
    connection.start()
    try:
        await procs.eventually(lambda: caplog.text.count(LISTED_AGAIN) >= 2, 30, "two listings after the first")
        [add] = [tool for tool in connection.tools() if tool.spec.name == "add"]
        result = await add.run({"a": 40, "b": 2})
    finally:
        await connection.close()

    assert (result.ok, result.text) == (True, "42.0")
    assert reports == [("connected", None)]  # never failed, never connected anew
    assert len(started.read_text().splitlines()) == 1
