"""A tool server's secret, end to end with real processes: read from Vault where the connection is made, and nowhere else.

OpenBao holds the secret; a gateway and a worker run as `soma` processes; the scripted MCP server
starts only with the right value (it is given its SHA-256, never the value). The value must then
not appear in the database, a backup, an API answer, a log line, an event or a request to the SLM,
also when the server prints it on stderr and fails, and when the value is rotated in Vault.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import psycopg

from soma import config
from tests import openbao, procs
from tests.tools.servers import stdio_entry

RELOAD = 1  # SOMA_SECRET_RELOAD_SECONDS here
TABLES = ("tool_servers", "tool_catalogue", "tool_settings", "session_events", "messages", "audit_log", "agent_settings")


def _digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _database_text(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        return "\n".join(str(row) for table in TABLES for row in conn.execute(f"SELECT * FROM {table}"))


def _starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_vault_secret_never_appears_in_the_database_backups_api_answers_logs_events_or_slm_requests(
    stack, vault: openbao.OpenBao, tmp_path: Path
) -> None:
    first, second, wrong = (f"mcp-secret-{secrets.token_hex(8)}" for _ in range(3))
    place = f"mcp/e2e-{secrets.token_hex(4)}"
    vault.write_key(first, path=place)
    vault.write_key("test-key")  # with SOMA_VAULT_ADDR set, the SLM key comes from Vault too
    options = vault.env(secret_reload_seconds=RELOAD, log_level="DEBUG")
    url, gateway = stack.gateway(**options)
    worker = stack.worker(**options)
    started = tmp_path / "starts"
    wanted = _digest(first)
    entry = stdio_entry(
        "--require-env", f"SCRIPTED_TOKEN={wanted}", "--leak-env", "SCRIPTED_TOKEN",
        env={"SCRIPTED_TOKEN": f"vault:kv/{place}", "SCRIPTED_STARTS_FILE": str(started)},
    )  # fmt: skip
    put = stack.client.put(f"{url}/v1/tools/servers/scripted", json=entry)
    assert (put.status_code, put.json()["state"], put.json()["error"]) == (200, "connected", None)  # the gateway's probe
    procs.wait_until(lambda: "tool server 'scripted': connected" in worker.output(), 60, "the worker to connect")
    assert _starts(started) == 2  # the probe's start and the worker's

    # A turn in which the SLM asks the server for its secret: the agent loop offers the MCP tools.
    stack.slm.script({"tool_calls": [{"name": "scripted__env", "arguments": {"name": "SCRIPTED_TOKEN"}}]}, {"chunks": ["Done."]})
    session = stack.new_session()
    sent = stack.send(session, "What is your token?")
    events = stack.events(session, procs.has_event("assistant.message"))
    assert events[-1]["data"]["message"]["reply_to"] == sent["id"]
    call_id = f"m{sent['id']}g1s1c0"
    [finished] = [e["data"] for e in events if e["event"] == "tool.finished"]
    assert (finished["call_id"], finished["ok"], finished["result"]) == (call_id, True, "[secret]")
    after_call = stack.slm.requests()[1]["body"]["messages"]
    assert after_call[-1] == {"role": "tool", "tool_call_id": call_id, "content": "[secret]"}  # the SLM reads the redaction, not the value

    # The value in Vault changes to one the server refuses (it prints it on stderr as it fails), then to a good one.
    vault.write_key(wrong, path=place)
    procs.wait_until(lambda: "tool server 'scripted': failed: it exited with code 2" in worker.output(), 60, "the refused secret")
    vault.write_key(second, path=place)
    stack.client.put(f"{url}/v1/tools/servers/scripted", json={**entry, "args": [*entry["args"][:2], f"SCRIPTED_TOKEN={_digest(second)}", *entry["args"][3:]]})
    procs.wait_until(lambda: worker.output().count("tool server 'scripted': connected") >= 2, 60, "the worker to connect again")

    seen = {
        "database": _database_text(stack.database_url),
        "backup": stack.client.get(f"{url}/v1/backup").content.decode(errors="replace"),
        "api": "".join(stack.client.get(f"{url}{path}").text for path in ("/v1/tools", "/v1/tools/servers", f"/v1/sessions/{session}/messages")),
        "events": json.dumps(stack.events(session, procs.has_event("assistant.message"))),
        "slm": json.dumps(stack.slm.requests()),
        "gateway log": gateway.output(),
        "worker log": worker.output(),
    }
    for value in (first, second, wrong):
        assert [where for where, text in seen.items() if value in text] == [], value
    assert f"vault:kv/{place}" in seen["api"]  # the reference itself is no secret: the export shows it
    assert "scripted: starting with SCRIPTED_TOKEN=[secret]" in seen["worker log"]  # the stderr tail, redacted


def test_a_worker_started_stdio_server_sees_none_of_the_workers_secrets(stack, tmp_path: Path) -> None:
    dumped = tmp_path / "environment.json"
    own = {"slm_api_key": "sk-worker-only-5b7d", "vault_token": "hvs.worker-only-8e2f", "bootstrap_admin_key": "soma_worker-only-admin-key-0123456789abcdef"}
    worker = stack.worker(**own)
    assert stack.client.put(f"{stack.url}/v1/tools/servers/scripted", json=stdio_entry("--dump-env", str(dumped), env={"LOG_LEVEL": "debug"})).status_code == 200
    procs.wait_until(lambda: "tool server 'scripted': connected" in worker.output(), 60, "the worker to connect")
    environment = json.loads(dumped.read_text())  # written by the worker's start, the last one
    allowed = set(config.TOOL_SERVER_ENVIRONMENT) | {"LOG_LEVEL"}
    assert set(environment) <= allowed and {"PATH", "LOG_LEVEL"} <= set(environment)
    text = json.dumps(environment)
    assert not any(value in text for value in (*own.values(), stack.database_url, "test-key"))
