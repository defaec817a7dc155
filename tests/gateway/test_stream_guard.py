"""An open stream's credential re-checked in-process: at its expiry, and at keep-alives for what no NOTIFY announced."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from soma import config
from tests import procs
from tests.conftest import client_of

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(settings: config.Settings) -> config.Settings:
    """Keep-alives, and so re-checks, every 0.2 s."""
    return settings.model_copy(update={"sse_keepalive_seconds": 0.2})


async def _stream(client, session_id: str) -> tuple[int, str]:
    """Read a stream to its end (the in-process transport answers once the app is done)."""
    response = await client.get(f"/v1/sessions/{session_id}/events", timeout=10)
    return response.status_code, response.text


async def _log_in_and_stream(gateway, client, username: str) -> tuple[str, asyncio.Task]:
    """Log `client` in as `username`, start a chat and read its stream in the background, once it is open."""
    login = await client.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    chat = (await client.post("/v1/sessions", json={})).json()["id"]
    reading = asyncio.create_task(_stream(client, chat))
    await procs.eventually(lambda: gateway.state.notifier.open_streams == 1, 5, "the stream to open")
    return chat, reading


async def _key(api, **extra: object) -> tuple[int, dict[str, str]]:
    created = (await api.post("/v1/keys", json={"name": "bot", "scopes": ["chat"], **extra})).json()
    return created["id"], {"Authorization": f"Bearer {created['key']}"}


async def test_a_stream_ends_when_its_key_expires_and_a_reconnect_is_refused(api, gateway) -> None:
    _, bearer = await _key(api, expires_days=3.0 / 86400)  # three seconds: a loaded machine took more than one to open the stream
    async with client_of(gateway, bearer) as bot:
        chat = (await bot.post("/v1/sessions", json={})).json()["id"]

        status, body = await _stream(bot, chat)

        assert status == 200
        assert body.endswith('event: stream.ended\ndata: {"reason": "key_expired"}\n\n')
        assert (await bot.get(f"/v1/sessions/{chat}/events")).status_code == 401


async def test_a_revocation_no_notify_announced_ends_the_stream_at_a_keep_alive(api, gateway, database_url) -> None:
    key_id, bearer = await _key(api)
    async with client_of(gateway, bearer) as bot:
        chat = (await bot.post("/v1/sessions", json={})).json()["id"]
        reading = asyncio.create_task(_stream(bot, chat))
        await procs.eventually(lambda: gateway.state.notifier.open_streams == 1, 5, "the stream to open")
        with psycopg.connect(database_url) as conn:  # behind the gateway's back: as if the NOTIFY were lost
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key_id,))

        status, body = await reading

    assert status == 200
    assert body.endswith('event: stream.ended\ndata: {"reason": "key_revoked"}\n\n')


async def test_a_stream_ends_when_its_login_idles_out(api, gateway, settings, database_url) -> None:
    await api.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "member"})
    async with client_of(gateway) as ann:
        chat, reading = await _log_in_and_stream(gateway, ann, "ann")
        with psycopg.connect(database_url) as conn:  # last seen so long ago that it idles out in a second
            idle = f"{settings.session_idle_seconds - 1} seconds"
            conn.execute("UPDATE login_sessions SET last_seen_at = now() - %s::interval", (idle,))

        status, body = await reading

        assert status == 200
        assert body.endswith('event: stream.ended\ndata: {"reason": "session_expired"}\n\n')
        assert (await ann.get(f"/v1/sessions/{chat}/events")).status_code == 401


async def test_demoting_an_admin_ends_their_streams_and_a_reconnect_is_authorized_afresh(api, gateway) -> None:
    ann = (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "admin"})).json()
    async with client_of(gateway) as browser:
        chat, reading = await _log_in_and_stream(gateway, browser, "ann")

        assert (await api.patch(f"/v1/users/{ann['id']}", json={"role": "member"})).status_code == 200

        status, body = await reading
        assert status == 200
        assert body.endswith('event: stream.ended\ndata: {"reason": "role_changed"}\n\n')
        assert (await browser.get("/v1/auth/me")).json()["role"] == "member"  # the login holds
