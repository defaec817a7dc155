"""API keys through real processes: created by the CLI, checked on every request, revoked at once."""

from __future__ import annotations

import threading

import httpx

from soma.gateway import authn
from tests import procs
from tests.conftest import ADMIN_KEY

PASSWORD = "correct horse battery"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_cli_key_works_on_every_route_including_sse_and_is_refused_once_revoked(stack) -> None:
    created = procs.run_soma(stack.env(), "keys", "create", "--name", "integration", "--scope", "chat")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("soma_") and "not shown again" in created.stderr
    session = httpx.post(f"{stack.url}/v1/sessions", json={}, headers=_bearer(key)).json()["id"]
    opened = threading.Event()

    def stream() -> None:
        with httpx.stream("GET", f"{stack.url}/v1/sessions/{session}/events", headers=_bearer(key), timeout=10) as response:
            assert response.status_code == 200
            opened.set()
            for _ in response.iter_lines():
                pass

    reader = threading.Thread(target=stream, daemon=True)
    reader.start()
    assert opened.wait(10)

    listed = procs.run_soma(stack.env(), "keys", "list")
    key_id = next(line.split()[0] for line in listed.stdout.splitlines() if "integration" in line)
    assert key not in listed.stdout
    assert stack.client.delete(f"{stack.url}/v1/keys/{key_id}").status_code == 200

    refused = httpx.get(f"{stack.url}/v1/sessions/{session}/events", headers=_bearer(key))
    assert refused.status_code == 401
    assert httpx.get(f"{stack.url}/v1/sessions", headers=_bearer(key)).status_code == 401


def test_revoke_all_locks_out_every_key_while_a_logged_in_admin_can_still_act(stack) -> None:
    created = procs.run_soma(stack.env(), "users", "create", "root-admin", "--role", "admin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    chat_key = procs.run_soma(stack.env(), "keys", "create", "--name", "bot", "--scope", "chat").stdout.strip()
    with httpx.Client(base_url=stack.url) as browser:
        login = browser.post("/v1/auth/login", json={"username": "root-admin", "password": PASSWORD})
        assert login.status_code == 200
        # httpx keeps Secure cookies for https; a browser sends this one to 127.0.0.1 too.
        browser.headers["Cookie"] = f"{authn.COOKIE}={login.cookies[authn.COOKIE]}"
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}

        revoked = procs.run_soma(stack.env(), "keys", "revoke", "--all")

        assert revoked.returncode == 0, revoked.stderr
        for key in (chat_key, ADMIN_KEY):
            assert httpx.get(f"{stack.url}/v1/sessions", headers=_bearer(key)).status_code == 401
        assert browser.post("/v1/sessions", json={}, headers=csrf).status_code == 201
        fresh = browser.post("/v1/keys", json={"name": "after the incident", "scopes": ["admin"]}, headers=csrf).json()["key"]
        assert httpx.get(f"{stack.url}/v1/sessions", headers=_bearer(fresh)).status_code == 200
        actions = [e["action"] for e in browser.get("/v1/audit").json()["entries"]]
    assert "key.revoked_all" in actions and "auth.login.succeeded" in actions


def test_no_password_or_key_appears_in_the_processes_logs(stack) -> None:
    procs.run_soma(stack.env(), "users", "create", "ann", stdin=PASSWORD + "\n")
    key = procs.run_soma(stack.env(), "keys", "create", "--name", "bot", "--scope", "chat").stdout.strip()
    httpx.post(f"{stack.url}/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    httpx.post(f"{stack.url}/v1/auth/login", json={"username": "ann", "password": "not the password"})
    httpx.get(f"{stack.url}/v1/sessions", headers=_bearer(key))
    httpx.get(f"{stack.url}/v1/sessions", headers=_bearer("soma_made-up-key-for-the-log-check"))
    logs = "".join(proc.output() for proc in stack.launcher.procs)
    for secret in (PASSWORD, "not the password", key, ADMIN_KEY, "soma_made-up-key-for-the-log-check"):
        assert secret not in logs
