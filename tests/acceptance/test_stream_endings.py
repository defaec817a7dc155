"""Streams end with their credential, on every gateway: a change made through one ends the streams open on another."""

from __future__ import annotations

import threading

import httpx

from soma.gateway import authn
from tests import procs

PASSWORD = "correct horse battery"


class Reader:
    """Reads one stream in a thread, to its end, keeping its events."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.opened = threading.Event()
        self.events: list[dict] = []
        self.status: int | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        parser = procs.SSEParser()
        with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
            self.status = response.status_code
            self.opened.set()
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    self.events.append(event)


def _login(url: str, admin: httpx.Client, name: str) -> dict[str, str]:
    """A new member, logged in through `url`: the headers a browser would send."""
    assert admin.post(f"{url}/v1/users", json={"username": name, "password": PASSWORD}).status_code == 201
    login = httpx.post(f"{url}/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    # httpx keeps Secure cookies for https; a browser sends this one to 127.0.0.1 too.
    return {"Cookie": f"{authn.COOKIE}={login.cookies[authn.COOKIE]}", "X-CSRF-Token": login.json()["csrf_token"]}


def _chat(url: str, headers: dict[str, str]) -> str:
    response = httpx.post(f"{url}/v1/sessions", json={}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_revoking_a_key_logging_out_changing_a_password_and_disabling_a_user_end_their_streams_on_another_gateway(stack) -> None:
    a, b = stack.url, stack.gateway(sse_keepalive_seconds=60)[0]  # on b only the NOTIFY can end a stream in time
    admin = stack.client
    key = admin.post(f"{a}/v1/keys", json={"name": "bot", "scopes": ["chat"]}).json()
    credentials = {
        "key_revoked": {"Authorization": f"Bearer {key['key']}"},
        "logged_out": _login(a, admin, "ann"),
        "password_changed": _login(a, admin, "bob"),
        "user_disabled": _login(a, admin, "cat"),
    }
    streams = {}
    for reason, headers in credentials.items():
        url = f"{b}/v1/sessions/{_chat(a, headers)}/events"
        streams[reason] = Reader(url, headers)
    for reader in streams.values():
        assert reader.opened.wait(10) and reader.status == 200

    users = {u["username"]: u["id"] for u in admin.get(f"{a}/v1/users").json()["users"]}
    assert admin.delete(f"{a}/v1/keys/{key['id']}").status_code == 200
    assert httpx.post(f"{a}/v1/auth/logout", headers=credentials["logged_out"]).status_code == 200
    changed = httpx.post(f"{a}/v1/auth/password", headers=credentials["password_changed"],
                         json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert admin.patch(f"{a}/v1/users/{users['cat']}", json={"disabled": True}).status_code == 200

    for reason, reader in streams.items():
        reader.thread.join(10)
        assert not reader.thread.is_alive(), f"the {reason} stream is still open"
        assert reader.events == [{"event": "stream.ended", "data": {"reason": reason}}]
        assert httpx.get(reader.url, headers=reader.headers).status_code == 401, reason
