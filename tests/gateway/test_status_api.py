"""/v1/status: the notices the web UI shows as a banner, here the missing SLM key, for every signed-in user."""

from __future__ import annotations

from pydantic import SecretStr

from soma import errors
from soma.gateway import app as gateway_app
from tests import openbao
from tests.conftest import ADMIN, client_of

PASSWORD = "correct horse battery"


async def test_with_an_slm_key_there_is_nothing_to_say(api) -> None:
    response = await api.get("/v1/status")

    assert (response.status_code, response.json()) == (200, {"notices": []})


async def test_without_an_slm_key_every_signed_in_user_reads_what_to_do(settings, database_url) -> None:
    app = gateway_app.create(settings.model_copy(update={"slm_api_key": None, "secret_sources": "env"}), database_url)
    async with app.router.lifespan_context(app):
        async with client_of(app, ADMIN) as admin:
            assert (await admin.post("/v1/users", json={"username": "ann", "password": PASSWORD})).status_code == 201
        async with client_of(app) as member:
            assert (await member.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})).status_code == 200
            response = await member.get("/v1/status")

    message = (
        "Every answer fails until an admin stores an SLM key: SOMA_SLM_API_KEY is not set (environment or .env). "
        "Put it in environment SOMA_SLM_API_KEY. Answers work again within 5 s, with no restart; "
        "then send the unanswered messages again."
    )
    assert (response.status_code, response.json()) == (200, {"notices": [{"code": "slm_key_missing", "message": message}]})


async def test_a_key_missing_from_vault_names_the_command_that_stores_one(settings, database_url, vault) -> None:
    vault.forget()
    sourced = settings.model_copy(update={"slm_api_key": None, "vault_addr": vault.addr, "vault_token": SecretStr(openbao.ROOT_TOKEN)})
    app = gateway_app.create(sourced, database_url)
    async with app.router.lifespan_context(app):
        async with client_of(app, ADMIN) as admin:
            [notice] = (await admin.get("/v1/status")).json()["notices"]
            vault.write_key("sk-new")
            await app.state.keys.reread()  # what the watcher does every SOMA_SECRET_RELOAD_SECONDS
            after = (await admin.get("/v1/status")).json()

    assert notice["message"].startswith("Every answer fails until an admin stores an SLM key: nothing is stored at kv/slm/api-key in Vault. ")
    assert "`soma slm rotate-key < key.txt` (runbook 3, docs/runbooks/rotate-slm-key.md)" in notice["message"]
    assert after == {"notices": []}


async def test_anyone_reads_whether_soma_is_locked_down_even_under_the_lockdown(gateway, api) -> None:
    async with client_of(gateway) as stranger:
        before = await stranger.get("/v1/status/lockdown")
        stopped = await api.post("/v1/emergency-stop", json={"reason": "drill", "confirm": "STOP"})
        during = await stranger.get("/v1/status/lockdown")
        refused = await stranger.get("/v1/status")

    assert (before.status_code, before.json()) == (200, {"active": False, "message": None})
    assert stopped.status_code == 200, stopped.text
    assert (during.status_code, during.json()) == (200, {"active": True, "message": errors.Lockdown().message})
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "lockdown")  # the rest of /v1/status stays shut
