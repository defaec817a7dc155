"""The tunnel's door in-process: its requests are public, counted per Cloudflare visitor; elsewhere CF-Connecting-IP means nothing.

The door is the listener on SOMA_TUNNEL_ORIGIN_PORT; in-process, a client reaches it by that port
in its URL, which the ASGI scope carries as `server`, as uvicorn does for the accepting socket.
tests/tunnel/test_door.py runs the same through real processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from soma import config
from soma.auth import ratelimit
from soma.gateway import app as gateway_app
from soma.gateway import authn
from tests.conftest import ADMIN, client_of

PASSWORD = "correct horse battery"
PEER = "127.0.0.9"  # cloudflared's address, as the gateway's socket sees it


@contextlib.asynccontextmanager
async def _gateway(settings: config.Settings, database_url: str, **changes: object) -> AsyncIterator[FastAPI]:
    app = gateway_app.create(settings.model_copy(update=changes), database_url)
    async with app.router.lifespan_context(app):
        yield app


async def _login(app: FastAPI, base_url: str, password: str, headers: dict | list | None = None) -> httpx.Response:
    async with client_of(app, address=PEER) as client:
        client.base_url = base_url
        return await client.post("/v1/auth/login", json={"username": "ann", "password": password}, headers=headers)


async def _seen(app: FastAPI) -> list[str]:
    """The client address of each failed login, oldest first."""
    async with client_of(app, ADMIN) as api:
        entries = (await api.get("/v1/audit", params={"action": ratelimit.FAILED})).json()["entries"]
    return [e["client_address"] for e in reversed(entries)]


def _door(settings: config.Settings) -> str:
    return f"http://soma.internal:{settings.tunnel_origin_port}"  # plain HTTP from cloudflared, any Host


async def test_a_door_request_is_counted_for_its_cloudflare_visitor(settings, database_url) -> None:
    async with _gateway(settings, database_url) as app:
        for visitor in ("203.0.113.7", "2001:DB8::1"):
            assert (await _login(app, _door(settings), "wrong guess!", {"CF-Connecting-IP": visitor})).status_code == 401
        assert await _seen(app) == ["203.0.113.7", "2001:db8::1"]


async def test_a_door_request_without_a_usable_cloudflare_address_counts_as_the_peer(settings, database_url) -> None:
    unusable = [
        None,  # missing
        {"CF-Connecting-IP": "not-an-address"},
        {"CF-Connecting-IP": "203.0.113.7, 198.51.100.1"},  # a list: nobody in particular
        [("CF-Connecting-IP", "203.0.113.7"), ("CF-Connecting-IP", "198.51.100.1")],  # two: which one?
    ]
    async with _gateway(settings, database_url) as app:
        statuses = [(await _login(app, _door(settings), "wrong guess!", headers)).status_code for headers in unusable]
        assert statuses == [401] * ratelimit.FREE_FAILURES + [429]  # one address: the fourth waits its turn
        assert await _seen(app) == [PEER] * ratelimit.FREE_FAILURES


async def test_x_forwarded_for_means_nothing_on_the_door_even_from_a_trusted_peer(settings, database_url) -> None:
    async with _gateway(settings, database_url, trusted_proxies="127.0.0.0/8") as app:
        forwarded = {"CF-Connecting-IP": "203.0.113.7", "X-Forwarded-For": "198.51.100.1"}
        await _login(app, _door(settings), "wrong guess!", forwarded)
        await _login(app, "https://soma.test", "wrong guess!", forwarded)  # the normal listener: the proxy rule, not Cloudflare's
        assert await _seen(app) == ["203.0.113.7", "198.51.100.1"]


async def test_a_cloudflare_address_sent_to_the_normal_listener_changes_nothing(settings, database_url) -> None:
    async with _gateway(settings, database_url) as app:
        for origin in ("https://soma.test", "http://soma.internal", f"http://soma.internal:{settings.port}"):
            await _login(app, origin, "wrong guess!", {"CF-Connecting-IP": "203.0.113.7"})
        assert await _seen(app) == [PEER] * 3


async def test_the_door_gives_the_secure_host_cookie_over_plain_http_whatever_the_host(settings, database_url) -> None:
    async with _gateway(settings, database_url) as app:
        async with client_of(app, ADMIN) as api:
            assert (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD})).status_code == 201
        response = await _login(app, _door(settings), PASSWORD, {"CF-Connecting-IP": "203.0.113.7"})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{authn.COOKIE}=") and "secure" in cookie.lower()


async def test_a_gateway_without_a_door_treats_that_port_like_any_other(settings, database_url) -> None:
    async with _gateway(settings, database_url, tunnel_origin_port=0) as app:
        await _login(app, _door(settings), "wrong guess!", {"CF-Connecting-IP": "203.0.113.7"})
        assert await _seen(app) == [PEER]
