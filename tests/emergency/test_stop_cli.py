"""`soma emergency-stop` as an operator runs it, with no gateway or worker up: on PostgreSQL directly, twice, then lifted."""

from __future__ import annotations

from pathlib import Path

import psycopg

from soma import errors
from tests import procs

REASON = "suspected compromise"


def _rows(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def _step_lines(stdout: str) -> dict[str, str]:
    """Each step's first two columns (name, ok/FAILED) from the lines printed as the steps finish."""
    lines = stdout.split("\n\n")[0].splitlines()
    return {line.split()[0]: line.split()[1] for line in lines}


def test_without_yes_and_no_answer_nothing_is_done(database_url: str, tmp_path: Path) -> None:
    env = procs.soma_env(database_url, data_dir=tmp_path, log_level="WARNING")

    done = procs.run_soma(env, "emergency-stop", "--reason", REASON, stdin="")

    assert done.returncode == 1
    assert done.stderr.endswith("cancelled: nothing was done (add --yes to run without asking).\n")
    assert _rows(database_url, "SELECT active FROM lockdown") == [(False,)]


def test_the_stop_works_with_no_gateway_is_safe_twice_and_the_lift_leaves_keys_revoked(database_url: str, tmp_path: Path) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE tunnel_state SET enabled = true")
        conn.execute("INSERT INTO api_keys (token_hash, prefix, name, scopes, created_by) VALUES ('x', 'soma_x', 'ci', '{chat}', 'test')")
    env = procs.soma_env(database_url, data_dir=tmp_path, log_level="WARNING")

    first = procs.run_soma(env, "emergency-stop", "--reason", REASON, "--yes")

    assert first.returncode == 0, first.stderr
    assert _step_lines(first.stdout) == {s: "ok" for s in ("lockdown", "tunnel", "access", "streams", "turns", "audit", "report")}
    assert "switched off; the tunnel supervisor stops cloudflared" in first.stdout
    assert "1 API keys revoked, 0 login sessions ended" in first.stdout
    assert "Emergency stop: every step succeeded\n" in first.stdout
    assert f"reason: {REASON}\n" in first.stdout
    assert _rows(database_url, "SELECT active, reason FROM lockdown") == [(True, REASON)]
    assert _rows(database_url, "SELECT enabled FROM tunnel_state") == [(False,)]

    # Again, asking for the SLM key in Vault too, which is not configured: that one step fails, by name.
    second = procs.run_soma(env, "emergency-stop", "--reason", "second look", "--yes", "--revoke-slm-key")

    assert second.returncode == 1
    assert _step_lines(second.stdout)["slm_key"] == "FAILED"
    assert "already on since " in second.stdout and "already off" in second.stdout
    assert "0 API keys revoked, 0 login sessions ended" in second.stdout
    message = errors.EmergencyStepFailed("Step slm_key failed.").message
    assert second.stderr == f"error: {message}\n"
    assert _rows(database_url, "SELECT active, reason FROM lockdown") == [(True, REASON)]  # the first reason stays

    lifted = procs.run_soma(env, "emergency-stop", "--lift", "--reason", "all clear")

    assert lifted.returncode == 0, lifted.stderr
    assert _step_lines(lifted.stdout) == {"lockdown": "ok", "turns": "ok", "audit": "ok", "report": "ok"}
    assert "0 queued turns run now, in order" in lifted.stdout
    assert "lifted; API keys and login sessions stay revoked: create new ones (`soma keys create`)" in lifted.stdout
    assert _rows(database_url, "SELECT active FROM lockdown") == [(False,)]
    assert _rows(database_url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == [(0,)]
    audited = _rows(database_url, "SELECT action, details->>'ok' FROM audit_log WHERE action LIKE 'emergency.%' ORDER BY id")
    assert audited == [("emergency.stop", "true"), ("emergency.stop", "false"), ("emergency.lift", "true")]
    assert len(list((tmp_path / "incidents").glob("*.txt"))) == 3
