"""SOMA_LOCAL_LOGIN=false: passwords are refused but for the break-glass admins only the CLI creates, each such login audited."""

from __future__ import annotations

import asyncio

import pytest

from soma import config
from tests import procs
from tests.conftest import client_of
from tests.oidc.conftest import reconfigure, sso_settings

PASSWORD = "a break-glass password"
LOCAL_LOGIN_OFF = {"error": {"code": "local_login_off", "message": (
    "Password login is turned off here (SOMA_LOCAL_LOGIN=false): sign in with the identity provider. Only break-glass admins"
    " (`soma users create NAME --role admin --break-glass`) may use a password."
)}}  # fmt: skip


@pytest.fixture
def settings(tmp_path, stand_in_idp) -> config.Settings:
    return sso_settings(tmp_path, stand_in_idp.issuer, local_login=False)


async def test_local_login_off_refuses_passwords_but_the_break_glass_admin(gateway, api, database_url) -> None:
    assert (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "admin"})).status_code == 201
    created = await asyncio.to_thread(
        procs.run_soma, procs.soma_env(database_url), "users", "create", "root", "--role", "admin", "--break-glass", stdin=PASSWORD + "\n"
    )
    assert (created.returncode, created.stdout.split(" (id")[0]) == (0, "created break-glass admin root"), created.stderr
    async with client_of(gateway) as browser:
        refused = await browser.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
        assert (refused.status_code, refused.json()) == (403, LOCAL_LOGIN_OFF)
        wrong = await browser.post("/v1/auth/login", json={"username": "root", "password": "not the password"})
        assert wrong.status_code == 401  # a wrong password says nothing about which accounts are break-glass
        assert (await browser.get("/v1/auth/me")).status_code == 401
        allowed = await browser.post("/v1/auth/login", json={"username": "root", "password": PASSWORD})
        assert (allowed.status_code, allowed.json()["role"]) == (200, "admin")
    entries = (await api.get("/v1/audit", params={"action": "auth.login"})).json()["entries"]
    assert [(e["actor"], e["details"]) for e in entries] == [("user:root", {"method": "break_glass"})]
    listed = {u["username"]: (u["break_glass"], u["sso"]) for u in (await api.get("/v1/users")).json()["users"]}
    assert listed == {"ann": (False, False), "root": (True, False)}


async def test_the_api_cannot_make_a_break_glass_admin(api) -> None:
    response = await api.post("/v1/users", json={"username": "root", "password": PASSWORD, "role": "admin", "break_glass": True})
    assert response.status_code == 422 and "break_glass" in response.json()["error"]["message"]


async def test_a_provider_outage_is_a_clear_503(gateway, stand_in_idp) -> None:
    gateway.state.oidc = None
    reconfigure(gateway, oidc_issuer="http://127.0.0.1:9")  # nothing listens on the discard port
    async with client_of(gateway) as browser:
        response = await browser.get("/v1/auth/oidc/login", headers={"Accept": "application/json"})
        assert response.status_code == 503 and response.headers["retry-after"] == "30"
        assert response.json()["error"]["code"] == "oidc_provider_unreachable"
        assert response.json()["error"]["message"].startswith("GET http://127.0.0.1:9/.well-known/openid-configuration failed (ConnectError).")
