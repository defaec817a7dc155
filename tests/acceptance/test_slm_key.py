"""Runbook 3 with real Vault semantics: rotate, revoke and restore the SLM key under running processes.

A real OpenBao dev server holds the key at kv/slm/api-key; the scripted SLM accepts one key at a time.
"""

from __future__ import annotations


import httpx
import psycopg

from tests import procs
from tests.conftest import ADMIN, ADMIN_KEY

RELOAD = 1  # SOMA_SECRET_RELOAD_SECONDS in these tests


def _turn(stack, session: str | None = None) -> dict:
    """Send a message and return the event that ends its turn (assistant.message or turn.failed)."""
    session = session or stack.new_session()
    sent = stack.send(session, "Hi")

    def ended(events: list[dict]) -> bool:
        return any(e["event"] in ("assistant.message", "turn.failed") and _reply_to(e) == sent["id"] for e in events)

    events = stack.events(session, ended)
    return next(e for e in events if e["event"] in ("assistant.message", "turn.failed") and _reply_to(e) == sent["id"])


def _reply_to(event: dict) -> int | None:
    data = event["data"]
    return data["message"].get("reply_to") if "message" in data and event["event"] == "assistant.message" else data.get("reply_to")


def _wait_reloaded(processes: list[procs.Proc], line: str) -> None:
    """Until each process has re-read the key from Vault and logged `line` (every RELOAD seconds)."""
    for proc in processes:
        procs.wait_until(lambda p=proc: line in p.output(), 30, f"{proc.name} to log {line!r}")


def _vault_stack_env(stack, vault, **overrides) -> dict[str, str]:
    return stack.env(**vault.env(secret_reload_seconds=RELOAD, **overrides))


def test_a_rotated_key_is_used_by_the_running_worker_without_a_restart(stack, vault) -> None:
    vault.write_key("key-one")
    stack.slm.script(default={"key": "key-one"})
    worker = stack.worker(**vault.env(secret_reload_seconds=RELOAD))
    assert _turn(stack)["event"] == "assistant.message"

    stack.slm.script(default={"key": "key-two"})  # the provider now accepts only the new key
    rotated = procs.run_soma(_vault_stack_env(stack, vault), "slm", "rotate-key", "--reason", "quarterly", "--ticket", "OPS-7", stdin="key-two\n")

    assert rotated.returncode == 0, rotated.stderr
    assert "version 2" in rotated.stdout
    ended = _turn(stack)
    assert ended["event"] == "assistant.message", ended
    assert stack.slm.requests()[-1]["authorization"] == "Bearer key-two"
    assert worker.alive() and "SLM key changed" in worker.output()
    assert "key-two" not in worker.output() and "key-one" not in worker.output()


def test_the_rotation_is_recorded_in_vault_metadata_and_the_audit_log(stack, vault) -> None:
    vault.write_key("key-one")
    stack.slm.script(default={"key": "key-two"})

    rotated = procs.run_soma(_vault_stack_env(stack, vault), "slm", "rotate-key", "--reason", "leaked in a log", "--ticket", "INC-42", stdin="key-two")

    assert rotated.returncode == 0, rotated.stderr
    metadata = vault.metadata()
    assert metadata["current_version"] == 2
    custom = metadata["custom_metadata"]
    assert custom["reason"] == "leaked in a log" and custom["ticket"] == "INC-42"
    assert custom["rotated_by"] and custom["rotated_at"].endswith("Z") and custom["version"] == "2"
    with psycopg.connect(stack.database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT action, target, details::text FROM audit_log WHERE action LIKE 'slm.%'").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("slm.key.rotated", "kv/slm/api-key")]
    assert "INC-42" in rows[0][2] and "key-two" not in rows[0][2]


def test_a_key_the_slm_rejects_is_not_stored_and_the_old_version_stays_current(stack, vault, tmp_path) -> None:
    vault.write_key("key-one")
    stack.slm.script(default={"key": "key-one"})
    key_file = tmp_path / "new-key"
    key_file.write_text("not-accepted\n")

    rotated = procs.run_soma(_vault_stack_env(stack, vault), "slm", "rotate-key", "--from-file", str(key_file))

    assert rotated.returncode == 1
    assert "refused the new key" in rotated.stderr and "current key stays in use" in rotated.stderr
    assert "not-accepted" not in rotated.stderr + rotated.stdout
    assert (vault.current_version(), vault.value()) == (1, "key-one")


def test_rotate_key_refuses_empty_or_multi_line_input_and_needs_vault(stack, vault) -> None:
    vault.write_key("key-one")
    env = _vault_stack_env(stack, vault)
    assert "empty" in procs.run_soma(env, "slm", "rotate-key", stdin="\n").stderr
    assert "whitespace" in procs.run_soma(env, "slm", "rotate-key", stdin="a b\n").stderr
    no_vault = procs.run_soma(stack.env(), "slm", "rotate-key", stdin="key-two")
    assert no_vault.returncode == 1 and "SOMA_VAULT_ADDR" in no_vault.stderr
    assert vault.current_version() == 1


def test_a_destroyed_key_fails_turns_with_slm_auth_and_restoring_it_heals_the_same_processes(stack, vault) -> None:
    vault.write_key("key-one")
    stack.slm.script(default={"key": "key-one"})
    worker = stack.worker(**vault.env(secret_reload_seconds=RELOAD))
    gateway_url, gateway = stack.gateway(**vault.env(secret_reload_seconds=RELOAD))
    assert _turn(stack)["event"] == "assistant.message"

    vault.kv.destroy_secret_versions("slm/api-key", versions=[1], mount_point="kv")
    _wait_reloaded([worker, gateway], "SLM key changed: MISSING")
    failed = _turn(stack)

    assert failed["event"] == "turn.failed" and failed["data"]["reason"] == "slm_auth"
    assert "destroyed" in failed["data"]["message"]
    ready = httpx.get(gateway_url + "/ready")
    assert ready.status_code == 200  # still in service for reads
    assert ready.json()["status"] == "degraded" and ready.json()["checks"]["slm_key"].startswith("missing")
    assert httpx.get(f"{gateway_url}/v1/sessions", headers=ADMIN).status_code == 200

    vault.write_key("key-one")
    _wait_reloaded([worker, gateway], "SLM key changed: from ")
    assert _turn(stack)["event"] == "assistant.message"
    assert httpx.get(gateway_url + "/ready").json()["checks"]["slm_key"] == "ok"
    assert worker.alive() and gateway.alive()


def test_an_unreachable_vault_at_start_stops_the_worker_with_an_error_naming_soma_vault_addr(stack) -> None:
    env = stack.env(vault_addr=f"http://127.0.0.1:{procs.free_port()}", vault_token="t", vault_timeout=1)
    for command in ("worker", "gateway"):
        result = procs.run_soma(env, command)
        assert result.returncode == 1
        assert "SOMA_VAULT_ADDR" in result.stderr and "Traceback" not in result.stderr


def test_a_mounted_key_file_is_used_and_its_change_picked_up_without_vault(stack, tmp_path) -> None:
    key_file = tmp_path / "slm-api-key"
    key_file.write_text("file-key-one")
    stack.slm.script(default={"key": "file-key-one"})
    stack.worker(slm_api_key_file=key_file, secret_reload_seconds=RELOAD)
    assert _turn(stack)["event"] == "assistant.message"

    # kubelet swaps a Secret volume's file atomically; so does this.
    (tmp_path / "next").write_text("file-key-two")
    (tmp_path / "next").replace(key_file)
    stack.slm.script(default={"key": "file-key-two"})
    assert _turn(stack)["event"] == "assistant.message"
    assert stack.slm.requests()[-1]["authorization"] == "Bearer file-key-two"


def test_a_dotenv_key_is_used_without_vault_or_file(stack, launcher) -> None:
    (launcher.log_dir / ".env").write_text("SOMA_SLM_API_KEY=dotenv-key\n")
    stack.slm.script(default={"key": "dotenv-key"})
    env = stack.env()
    del env["SOMA_SLM_API_KEY"]
    worker = launcher.soma("worker", env)
    procs.wait_until(lambda: "worker ready" in worker.output() or not worker.alive(), 30, "the worker")
    assert _turn(stack)["event"] == "assistant.message"
    assert "from .env SOMA_SLM_API_KEY" in worker.output()


def test_slm_check_names_the_source_and_fails_on_a_rejected_key(stack, vault) -> None:
    vault.write_key("key-one")
    stack.slm.script(default={"key": "key-one"})
    ok = procs.run_soma(_vault_stack_env(stack, vault), "slm", "check")
    assert ok.returncode == 0, ok.stderr
    assert "accepted the key from vault kv/slm/api-key" in ok.stdout and "version 1" in ok.stdout

    stack.slm.script(default={"key": "another"})
    refused = procs.run_soma(_vault_stack_env(stack, vault), "slm", "check")
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr and "vault kv/slm/api-key" in refused.stderr
    assert "key-one" not in refused.stderr


def test_secrets_status_names_the_source_never_the_value(stack, vault) -> None:
    vault.write_key("key-one")
    status = procs.run_soma(_vault_stack_env(stack, vault), "secrets", "status")
    assert status.returncode == 0, status.stderr
    assert "from vault kv/slm/api-key" in status.stdout and "version 1" in status.stdout
    assert "env   configured, holds a key, ignored: vault comes first" in status.stdout
    assert "key-one" not in status.stdout and "test-key" not in status.stdout


def test_smoke_passes_through_a_running_stack_and_fails_with_the_reason(stack) -> None:
    stack.worker()
    unauthenticated = procs.run_soma(stack.env(), "smoke", "--url", stack.url)
    assert unauthenticated.returncode == 1 and "SOMA_API_KEY" in unauthenticated.stderr
    env = stack.env(api_key=ADMIN_KEY)
    passed = procs.run_soma(env, "smoke", "--url", stack.url)
    assert passed.returncode == 0, passed.stderr
    assert "first token" in passed.stdout and "reply complete" in passed.stdout and passed.stdout.startswith(" ")

    stack.slm.script(default={"key": "some-other-key"})
    failed = procs.run_soma(env, "smoke", "--url", stack.url)
    assert failed.returncode == 1 and "slm_auth" in failed.stderr

    down = procs.run_soma(env, "smoke", "--url", f"http://127.0.0.1:{procs.free_port()}")
    assert down.returncode == 1 and "Could not create a chat" in down.stderr
