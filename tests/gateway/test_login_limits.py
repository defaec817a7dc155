"""Login limits no one can aim at someone else, and the client address behind SOMA_TRUSTED_PROXIES."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from soma import config
from soma.auth import ratelimit
from tests.conftest import ADMIN, client_of, database_clock_passes

PASSWORD = "correct horse battery"


async def _login(app, name: str, password: str, address: str, **headers: str):
    async with client_of(app, headers, address=address) as client:
        return await client.post("/v1/auth/login", json={"username": name, "password": password})


async def _failures(api) -> list[dict]:
    return (await api.get("/v1/audit", params={"action": ratelimit.FAILED})).json()["entries"]


@pytest.fixture
async def ann(api) -> None:
    assert (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD})).status_code == 201


async def test_failures_from_one_address_never_stop_a_correct_login_from_another(api, gateway, ann) -> None:
    statuses = [(await _login(gateway, "ann", "wrong guess!", "127.0.0.3")).status_code for _ in range(12)]
    assert statuses[: ratelimit.FREE_FAILURES] == [401] * ratelimit.FREE_FAILURES
    assert set(statuses[ratelimit.FREE_FAILURES :]) == {429}  # the guesser must now wait between attempts

    assert (await _login(gateway, "ann", PASSWORD, "127.0.0.2")).status_code == 200
    failures = await _failures(api)
    assert len(failures) == ratelimit.FREE_FAILURES and {e["client_address"] for e in failures} == {"127.0.0.3"}


async def test_the_delay_doubles_per_failure_and_then_lets_the_right_password_in(api, gateway, ann, database_url) -> None:
    for _ in range(ratelimit.FREE_FAILURES):
        assert (await _login(gateway, "ann", "wrong guess!", "127.0.0.3")).status_code == 401
    held = await _login(gateway, "ann", PASSWORD, "127.0.0.3")  # even the right password waits its turn
    assert (held.status_code, held.json()["error"]["code"]) == (429, "too_many_logins")
    assert held.headers["Retry-After"] == "1" and "wait 1 s" in held.json()["error"]["message"]
    assert [ratelimit.delay(n) for n in range(3, 7)] == [1, 2, 4, 8] and ratelimit.delay(40) == ratelimit.MAX_DELAY

    await database_clock_passes(database_url, f"SELECT max(at) + interval '1 second' FROM audit_log WHERE action = '{ratelimit.FAILED}'")
    assert (await _login(gateway, "ann", PASSWORD, "127.0.0.3")).status_code == 200


async def test_one_address_trying_many_names_is_refused(api, gateway) -> None:
    for n in range(ratelimit.PER_ADDRESS):  # a different name each time: no account's delay applies
        assert (await _login(gateway, f"user{n}", "guess", "127.0.0.4")).status_code == 401
    refused = await _login(gateway, "user-next", "guess", "127.0.0.4")
    assert refused.status_code == 429 and "127.0.0.4" in refused.json()["error"]["message"]
    assert (await _login(gateway, "user-next", "guess", "127.0.0.5")).status_code == 401  # another address goes on


@contextlib.asynccontextmanager
async def _gateway(settings, database_url: str, trusted: str) -> AsyncIterator:
    from soma.gateway import app as gateway_app

    app = gateway_app.create(settings.model_copy(update={"trusted_proxies": trusted}), database_url)
    async with app.router.lifespan_context(app):
        yield app


async def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(settings, database_url) -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 10.1.2.3"}
    async with _gateway(settings, database_url, "127.0.0.9, 10.0.0.0/8") as app:
        await _login(app, "x", "guess", "127.0.0.9", **forwarded)  # via two trusted hops: the first untrusted is the client
        await _login(app, "x", "guess", "127.0.0.8", **forwarded)  # not a trusted peer: its header proves nothing
        await _login(app, "x", "guess", "127.0.0.9", **{"X-Forwarded-For": "not-an-address"})  # garbage: the proxy's word
        async with client_of(app, ADMIN) as api:
            seen = [e["client_address"] for e in reversed(await _failures(api))]
    assert seen == ["203.0.113.9", "127.0.0.8", "127.0.0.9"]


def test_a_bad_trusted_proxy_entry_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network.*CIDRs"):
        config.Settings(trusted_proxies="127.0.0.1, 10.0.0.0/33")
