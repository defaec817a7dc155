"""POST /v1/emergency-stop on an in-process gateway: the typed confirmation, the steps, and the lockdown that follows."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest

from soma import config, errors
from soma.auth import admin, bootstrap, keys, logins, users
from soma.conversations import events
from soma.db import engine as db_engine
from soma.emergency import stop
from soma.gateway.notifier import Notifier
from tests import procs
from tests.conftest import client_of

ACTOR = f"key:{bootstrap.NAME}"
REASON = "key leaked in a public repository"


def _rows(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


async def _given_a_member_key_a_login_and_an_open_tunnel(database_url: str) -> str:
    engine = db_engine.create(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            member_key, _ = await keys.create(conn, "integration", ["chat"], "test")
            user = await users.create(conn, "ann", "a long enough password", "member")
            await logins.start(conn, user["id"], "127.0.0.1", 3600)
            await conn.exec_driver_sql("UPDATE tunnel_state SET enabled = true")
    finally:
        await engine.dispose()
    return member_key


async def test_without_the_typed_confirmation_nothing_is_stopped(api, database_url) -> None:
    response = await api.post("/v1/emergency-stop", json={"reason": REASON, "confirm": "stop"})

    assert response.status_code == 422
    message = errors.EmergencyNotConfirmed("`confirm` is 'stop', not 'STOP'.").message
    assert response.json() == {"error": {"code": "confirmation_required", "message": message}}
    assert _rows(database_url, "SELECT active FROM lockdown") == [(False,)]
    assert (await api.get("/v1/sessions")).status_code == 200


async def test_a_member_cannot_trigger_the_emergency_stop(gateway, database_url) -> None:
    member_key = await _given_a_member_key_a_login_and_an_open_tunnel(database_url)
    async with client_of(gateway, {"Authorization": f"Bearer {member_key}"}) as member:
        response = await member.post("/v1/emergency-stop", json={"reason": REASON, "confirm": "STOP"})

    assert response.status_code == 403
    assert _rows(database_url, "SELECT active FROM lockdown") == [(False,)]


async def test_the_api_stop_revokes_everything_and_every_request_but_the_probes_gets_503_lockdown(
    api, gateway, database_url, settings: config.Settings
) -> None:
    member_key = await _given_a_member_key_a_login_and_an_open_tunnel(database_url)

    response = await api.post("/v1/emergency-stop", json={"reason": REASON, "confirm": "STOP"})

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["action"], report["reason"], report["actor"], report["ok"]) == ("emergency.stop", REASON, ACTOR, True)
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == ["lockdown", "tunnel", "access", "streams", "turns", "audit", "report"]
    assert all(s["ok"] for s in steps.values())
    assert steps["tunnel"]["detail"] == "switched off; the tunnel supervisor stops cloudflared"
    assert steps["access"]["detail"] == "2 API keys revoked, 1 login sessions ended"
    assert steps["turns"]["detail"] == "0 running turns cancelled (recorded as failed, reason lockdown)"

    lockdown_body = {"error": {"code": "lockdown", "message": errors.Lockdown().message}}
    for method, path in (("GET", "/v1/sessions"), ("POST", "/v1/sessions"), ("GET", "/v1/emergency-stop"), ("GET", "/v1/nowhere")):
        refused = await api.request(method, path)
        assert (refused.status_code, refused.json()) == (503, lockdown_body), path
    async with client_of(gateway, {"Authorization": f"Bearer {member_key}"}) as member:
        refused = await member.get("/v1/sessions")
        assert (refused.status_code, refused.json()) == (503, lockdown_body)
    assert (await api.get("/health")).status_code == 200
    assert (await api.get("/metrics")).status_code == 200
    assert (await api.get("/static/app.js")).status_code in (200, 404)  # the UI's files are not refused
    ready = await api.get("/ready")
    assert (ready.status_code, ready.json()) == (503, {"status": "lockdown", "lockdown": True, "checks": {"lockdown": errors.Lockdown().message}})

    assert _rows(database_url, "SELECT active, reason, started_by FROM lockdown") == [(True, REASON, ACTOR)]
    assert _rows(database_url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == [(0,)]
    assert _rows(database_url, "SELECT count(*) FROM login_sessions WHERE ended_at IS NULL") == [(0,)]
    assert _rows(database_url, "SELECT enabled, changed_by FROM tunnel_state") == [(False, ACTOR)]
    audited = _rows(database_url, "SELECT actor, details->>'reason', jsonb_array_length(details->'steps') FROM audit_log WHERE action = 'emergency.stop'")
    assert audited == [(ACTOR, REASON, 5)]  # the steps before the audit entry itself
    stored = sorted(p.name.split("-", 1)[1] for p in (settings.data_dir / "incidents").iterdir())
    assert stored == ["emergency-stop.json", "emergency-stop.txt"]
    assert steps["report"]["detail"].startswith(f"stored in {settings.data_dir / 'incidents'}")


async def test_without_vault_the_slm_key_step_fails_naming_why_and_the_others_still_run(database_url, settings: config.Settings) -> None:
    engine = db_engine.create(database_url, pool_size=1)
    try:
        report = await stop.stop(engine, settings, REASON, admin.Actor("cli:test"), revoke_slm_key=True)
    finally:
        await engine.dispose()

    assert report.failed == ["slm_key"]
    assert [s.detail for s in report.steps if s.name == "slm_key"] == [errors.SLMKeyNotInVault().message]
    assert [s.name for s in report.steps] == ["lockdown", "tunnel", "access", "streams", "turns", "slm_key", "audit", "report"]
    assert _rows(database_url, "SELECT active FROM lockdown") == [(True,)]


async def test_the_slm_key_step_deletes_the_current_version_in_openbao_and_again_is_harmless(
    database_url, settings: config.Settings, vault
) -> None:
    version = vault.write_key("sk-leaked")
    in_vault = config.Settings(_env_file=None, **{**settings.model_dump(), **vault.env()})
    engine = db_engine.create(database_url, pool_size=1)
    try:
        first = await stop.stop(engine, in_vault, REASON, admin.Actor("cli:test"), revoke_slm_key=True)
        second = await stop.stop(engine, in_vault, REASON, admin.Actor("cli:test"), revoke_slm_key=True)
    finally:
        await engine.dispose()

    assert (first.failed, second.failed) == ([], [])
    deleted = [s.detail for s in first.steps if s.name == "slm_key"][0]
    assert deleted.startswith(f"version {version} of kv/slm/api-key deleted in Vault at {vault.addr}")
    again = [s.detail for s in second.steps if s.name == "slm_key"][0]
    assert again.startswith(f"already revoked: version {version} at kv/slm/api-key was deleted in Vault at ")
    with pytest.raises(Exception):
        vault.value()  # the current version cannot be read any more
    assert [s.detail for s in second.steps if s.name == "lockdown"][0].startswith("already on since ")


async def _listening(database_url: str) -> bool:
    """Whether a connection to this database has run LISTEN on the notifier's channel (and waits for NOTIFYs)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        found = await conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            (f"LISTEN {events.CHANNEL}",),
        )
        return await found.fetchone() is not None


async def test_a_lockdown_notify_ends_every_open_stream_of_every_session(database_url) -> None:
    notifier = Notifier(database_url)
    notifier.start()
    try:
        streams = [notifier.subscribe(session) for session in ("a", "a", "b")]
        await procs.eventually(lambda: _listening(database_url), 10, "the notifier's LISTEN")
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (events.CHANNEL, json.dumps({"lockdown": True})))
        await procs.eventually(lambda: all(s.locked for s in streams), 5, "every stream to be locked")
        woken = await asyncio.gather(*(s.wait(1) for s in streams))
    finally:
        await notifier.stop()

    assert woken == [True, True, True]
    assert [s.locked for s in streams] == [True, True, True]
