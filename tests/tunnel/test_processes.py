"""`soma tunnel …` as operators run it: two supervisors with one cloudflared, the leader killed, the CLI's switch."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import httpx
import psycopg

from soma.auth import passwords
from soma.db import url as db_url
from tests import procs
from tests.tunnel.test_supervisor import FAKE

PUBLIC_URL = "https://soma.example.org"
SUPERVISOR = [sys.executable, "-m", "soma", "tunnel", "run"]


def _sql(database_url: str, statement: str, *args) -> list[tuple]:
    with psycopg.connect(db_url.for_libpq(database_url), autocommit=True) as conn:
        cursor = conn.execute(statement, args or None)
        return cursor.fetchall() if cursor.description else []


def _events(record: Path, kind: str) -> list[dict]:
    lines = record.read_text().splitlines() if record.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _state(database_url: str) -> tuple:
    return _sql(database_url, "SELECT state, public_url FROM tunnel_state")[0]


def test_two_supervisors_run_one_cloudflared_and_the_survivor_takes_over(launcher, database_url, tmp_path) -> None:
    record = tmp_path / "cloudflared.jsonl"
    metrics_port = procs.free_port()
    env = procs.soma_env(database_url, cloudflared=FAKE, public_url=PUBLIC_URL, tunnel_metrics_port=0, tunnel_origin_port=procs.free_port())
    env["FAKE_CLOUDFLARED_RECORD"] = str(record)
    first = launcher.start("tunnel-a", SUPERVISOR, {**env, "SOMA_TUNNEL_METRICS_PORT": str(metrics_port)})
    procs.wait_until(lambda: "this supervisor leads" in first.output(), 15, "the first supervisor to lead")
    second = launcher.start("tunnel-b", SUPERVISOR, env)
    procs.wait_until(lambda: "another supervisor leads" in second.output(), 15, "the second supervisor to wait")

    _sql(database_url, "UPDATE tunnel_state SET enabled = true, mode = 'quick'")
    procs.wait_until(lambda: _state(database_url)[0] == "connected", 10, "the tunnel to connect")
    [started] = _events(record, "start")
    scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert 'soma_tunnel_state{state="connected"} 1.0' in scrape and "soma_tunnel_leader 1.0" in scrape

    first.popen.send_signal(signal.SIGKILL)  # the leader dies without cleaning up
    procs.wait_until(lambda: not _alive(started["pid"]), 5, "the dead leader's cloudflared to go")
    procs.wait_until(lambda: len(_events(record, "start")) == 2, 15, "the survivor to start cloudflared")
    procs.wait_until(lambda: _state(database_url)[0] == "connected", 10, "the tunnel to connect again")
    alive = [e["pid"] for e in _events(record, "start") if _alive(e["pid"])]
    assert len(alive) == 1 and "this supervisor leads" in second.output()

    second.signal(signal.SIGTERM)  # the supervisor's own SIGTERM stops cloudflared too
    assert second.wait(10) == 0
    assert not _alive(alive[0]) and _state(database_url) == ("off", None)


def test_the_cli_refuses_then_opens_reports_and_closes_the_tunnel(database_url) -> None:
    env = procs.soma_env(database_url, log_level="WARNING")
    refused = procs.run_soma(env, "tunnel", "on")
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: No admin account with a password exists: create one with `soma users create NAME --role admin` or the setup link. "
        "SOMA_PUBLIC_URL is unset: set it to the https origin the tunnel serves, e.g. https://soma.example.org. "
        'The tunnel stays shut: opening it now would put an unprotected Soma on the internet. Fix what is named, then switch it on again (docs/architecture.md, "Public access").\n'
    )
    _sql(database_url, "INSERT INTO users (username, password_hash, role) VALUES ('ann', %s, 'admin')", passwords.hash_password("pw-1234567890"))
    env["SOMA_PUBLIC_URL"] = PUBLIC_URL
    opened = procs.run_soma(env, "tunnel", "on", "--mode", "quick")
    assert (opened.returncode, opened.stdout) == (0, "tunnel on (quick); `soma tunnel run` starts cloudflared within a second. Check with `soma tunnel status`.\n")
    status = procs.run_soma(env, "tunnel", "status")
    assert status.stdout == (
        "wanted: on (quick)\nstate: off\npublic URL: -\norigin: -\nlast error: -\nreported: never (is `soma tunnel run` running?)\n"
    )
    closed = procs.run_soma(env, "tunnel", "off")
    assert (closed.returncode, closed.stdout) == (0, "tunnel off; `soma tunnel run` stops cloudflared within a second.\n")
    audit = _sql(database_url, "SELECT action, actor LIKE 'cli:%%' FROM audit_log WHERE action LIKE 'tunnel.%%' ORDER BY id")
    assert audit == [("tunnel.enabled", True), ("tunnel.disabled", True)]
