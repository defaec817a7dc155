"""`soma tools`: add, list, import, export and remove tool servers from the command line, as an operator would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg

from tests import procs
from tests.tools.servers import SCRIPTED

FIX = "No tool server was changed. Fix the named entry (docs/runbooks/add-a-tool-server.md shows each field), then send it again."


def soma(database_url: str, *args: str) -> tuple[int, str, str]:
    done = procs.run_soma(procs.soma_env(database_url), "tools", *args, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_add_probes_the_server_and_list_shows_it_with_its_tools(database_url: str) -> None:
    code, out, err = soma(database_url, "add", "scripted", "--command", sys.executable, "--arg", SCRIPTED, "--env", "LOG_LEVEL=debug", "--call-timeout", "30")
    assert (code, out, err) == (0, "scripted (stdio): connected, 10 tools\n", "")
    code, out, _ = soma(database_url, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == ["servers:", "scripted (stdio): connected, 10 tools", "tools:"]
    assert lines[3:5] == ["  soma/remember: enabled, auto", "  soma/forget: enabled, auto"]
    assert "  scripted/add: enabled, auto" in lines
    listed = json.loads(soma(database_url, "list", "--json")[1])
    assert listed["servers"] == [{"name": "scripted", "transport": "stdio", "state": "connected", "error": None}]
    exported = json.loads(soma(database_url, "export")[1])
    assert exported == {"mcpServers": {"scripted": {"command": sys.executable, "args": [SCRIPTED], "env": {"LOG_LEVEL": "debug"}, "call_timeout": 30.0}}}


def test_add_refuses_a_secret_value_and_a_server_without_command_or_url(database_url: str) -> None:
    code, out, err = soma(database_url, "add", "gh", "--command", "npx", "--env", "GITHUB_TOKEN=ghp_abcdef0123456789")
    assert (code, out) == (1, "")
    assert err.startswith("error: Tool server 'gh': 'env.GITHUB_TOKEN' holds a plain value under a secret's name")
    assert err.endswith(f"instead. {FIX}\n") and "ghp_abcdef0123456789" not in err
    assert soma(database_url, "add", "gh")[2] == f"error: Give --command (a stdio server) or --url (a streamable-http server). {FIX}\n"
    assert soma(database_url, "add", "gh", "--url", "https://x.example/mcp", "--header", "oops")[2] == f"error: --header 'oops' is not NAME=VALUE. {FIX}\n"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM tool_servers").fetchone() == (0,)


def test_import_replaces_the_servers_with_a_claude_desktop_file_and_remove_takes_one_away(database_url: str, tmp_path: Path) -> None:
    assert soma(database_url, "add", "old", "--command", "npx", "--disabled")[0] == 0
    config = tmp_path / "claude_desktop_config.json"
    servers = {
        "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                   "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "vault:kv/mcp/github#token"}, "disabled": True},
        "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer env:REMOTE_TOKEN"}, "disabled": True},
    }  # fmt: skip
    config.write_text(json.dumps({"globalShortcut": "Ctrl+Space", "mcpServers": servers}))
    code, out, err = soma(database_url, "import", str(config))
    assert (code, out, err) == (0, f"imported 2 server(s) from {config}\ngithub (stdio): disabled\nremote (streamable-http): disabled\n", "")
    assert json.loads(soma(database_url, "export")[1]) == {"mcpServers": servers}
    assert soma(database_url, "remove", "github")[:2] == (0, "removed github\n")
    assert json.loads(soma(database_url, "export")[1]) == {"mcpServers": {"remote": servers["remote"]}}
    code, _, err = soma(database_url, "remove", "github")
    assert (code, err) == (1, "error: No tool server is named 'github'. No tool server has this name. `GET /v1/tools` (or `soma tools list`) lists them.\n")
    (tmp_path / "more.json").write_text(json.dumps({"mcpServers": {"extra": {"command": "uvx", "disabled": True}}}))
    assert soma(database_url, "import", str(tmp_path / "more.json"), "--merge")[0] == 0
    assert sorted(json.loads(soma(database_url, "export")[1])["mcpServers"]) == ["extra", "remote"]
    code, _, err = soma(database_url, "import", str(tmp_path / "missing.json"))
    assert code == 1 and err.startswith(f"error: Cannot read {tmp_path / 'missing.json'} as JSON")
    with psycopg.connect(database_url) as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_log WHERE action LIKE 'tools.%' ORDER BY id")]
    assert actions == ["tools.server.updated", "tools.servers.replaced", "tools.server.removed", "tools.server.updated"]
