"""GET/PUT /v1/tunnel in-process: the guard's refusals name their fix, changes are audited, only admins switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from soma import config
from soma.auth import setup_links
from soma.gateway import app as gateway_app
from soma.gateway import authn
from tests.conftest import ADMIN, ADMIN_KEY, client_of

PUBLIC_URL = "https://soma.example.org"
PASSWORD = "correct horse battery staple"
NO_ADMIN = "No admin account with a password exists: create one with `soma users create NAME --role admin` or the setup link."
OPEN_LINK = "A setup link is still open: use it to set the admin password, or let it expire."
NO_URL = "SOMA_PUBLIC_URL is unset: set it to the https origin the tunnel serves, e.g. https://soma.example.org."
FIX = 'The tunnel stays shut: opening it now would put an unprotected Soma on the internet. Fix what is named, then switch it on again (docs/architecture.md, "Public access").'


async def _gateway(tmp_path: Path, database_url: str, public_url: str | None) -> AsyncIterator[FastAPI]:
    settings = config.Settings(
        _env_file=None, data_dir=tmp_path, slm_api_key="test-key", bootstrap_admin_key=ADMIN_KEY, public_url=public_url
    )
    app = gateway_app.create(settings, database_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def public(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    """A gateway with SOMA_PUBLIC_URL set."""
    async for app in _gateway(tmp_path, database_url, PUBLIC_URL):
        yield app


@pytest.fixture
async def private(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    """A gateway without SOMA_PUBLIC_URL."""
    async for app in _gateway(tmp_path, database_url, None):
        yield app


def _refusal(*problems: str) -> dict:
    return {"error": {"code": "tunnel_refused", "message": " ".join(problems) + " " + FIX}}


async def _admin_user(client) -> None:
    response = await client.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "admin"})
    assert response.status_code in (200, 201), response.text


async def test_the_tunnel_starts_off_and_reports_nothing_yet(public) -> None:
    async with client_of(public, ADMIN) as api:
        response = await api.get("/v1/tunnel")
    assert response.status_code == 200
    assert response.json() == {
        "enabled": False, "mode": "token", "state": "off", "public_url": None, "last_error": None, "reported_at": None,
        "origin": "http://127.0.0.1:8081",  # the gateways' tunnel door, by default on this machine
        "blocked_by": [NO_ADMIN],
    }  # fmt: skip


async def test_opening_is_refused_without_an_admin_password_and_without_a_public_url(private) -> None:
    async with client_of(private, ADMIN) as api:
        response = await api.put("/v1/tunnel", json={"enabled": True})
        assert (response.status_code, response.json()) == (409, _refusal(NO_ADMIN, NO_URL))
        await _admin_user(api)
        response = await api.put("/v1/tunnel", json={"enabled": True, "mode": "quick"})
        assert (response.status_code, response.json()) == (409, _refusal(NO_URL))
        shown = (await api.get("/v1/tunnel")).json()
        assert (shown["enabled"], shown["blocked_by"]) == (False, [NO_URL])  # the web UI disables its switch with this reason


async def test_opening_is_refused_while_a_setup_link_is_open(public) -> None:
    async with client_of(public, ADMIN) as api:
        await _admin_user(api)
        async with public.state.engine.begin() as conn:
            await setup_links.issue(conn)
        response = await api.put("/v1/tunnel", json={"enabled": True})
        assert (response.status_code, response.json()) == (409, _refusal(OPEN_LINK))


async def test_a_disabled_admin_does_not_count(public) -> None:
    async with client_of(public, ADMIN) as api:
        await _admin_user(api)
        ann = next(u for u in (await api.get("/v1/users")).json()["users"] if u["username"] == "ann")
        assert (await api.patch(f"/v1/users/{ann['id']}", json={"disabled": True})).status_code == 200
        response = await api.put("/v1/tunnel", json={"enabled": True})
        assert (response.status_code, response.json()) == (409, _refusal(NO_ADMIN))


async def test_an_admin_opens_and_closes_it_and_each_change_is_audited(public) -> None:
    async with client_of(public, ADMIN) as api:
        await _admin_user(api)
        opened = await api.put("/v1/tunnel", json={"enabled": True, "mode": "quick"})
        assert opened.status_code == 200
        assert opened.json() == {
            "enabled": True, "mode": "quick", "state": "off", "public_url": None, "last_error": None, "reported_at": None,
            "origin": "http://127.0.0.1:8081", "blocked_by": [],
        }  # fmt: skip
        closed = await api.put("/v1/tunnel", json={"enabled": False})
        assert (closed.json()["enabled"], closed.json()["mode"]) == (False, "quick")
        entries = (await api.get("/v1/audit")).json()["entries"]
    tunnel = [(e["action"], e["target"], e["details"]) for e in entries if e["action"].startswith("tunnel.")]
    assert tunnel == [("tunnel.disabled", "tunnel", {"mode": "quick"}), ("tunnel.enabled", "tunnel", {"mode": "quick"})]
    assert {e["actor"] for e in entries if e["action"].startswith("tunnel.")} == {"key:bootstrap admin (SOMA_BOOTSTRAP_ADMIN_KEY)"}


async def test_an_unknown_mode_is_a_422(public) -> None:
    async with client_of(public, ADMIN) as api:
        response = await api.put("/v1/tunnel", json={"enabled": True, "mode": "ssh"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_members_may_neither_see_nor_switch_the_tunnel(public) -> None:
    async with client_of(public, ADMIN) as api:
        key = (await api.post("/v1/keys", json={"name": "chat", "scopes": ["chat"]})).json()["key"]
    async with client_of(public, {"Authorization": f"Bearer {key}"}) as member:
        assert (await member.get("/v1/tunnel")).status_code == 403
        assert (await member.put("/v1/tunnel", json={"enabled": False})).status_code == 403


async def test_a_login_through_the_public_origin_gets_the_secure_host_cookie(public) -> None:
    async with client_of(public, ADMIN) as api:
        await _admin_user(api)
    async with client_of(public) as browser:
        browser.base_url = "http://soma.example.org"  # as cloudflared hands it over: plain HTTP, the public Host
        response = await browser.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{authn.COOKIE}=") and "secure" in cookie.lower()


async def test_other_plain_http_hosts_still_get_the_plain_cookie(public) -> None:
    async with client_of(public, ADMIN) as api:
        await _admin_user(api)
    async with client_of(public) as browser:
        browser.base_url = "http://soma.internal"
        response = await browser.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    assert response.headers["set-cookie"].startswith(f"{authn.PLAIN_HTTP_COOKIE}=")
