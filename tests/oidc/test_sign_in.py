"""Signing in with a real OpenID provider (oidc-provider-mock, a process) through an in-process gateway, driven with httpx
as a browser follows the redirects: the callback's refusals, accounts bound to (issuer, subject), invitations, groups,
the session's lifetime, logout at the provider, and what else treats an SSO login like any other.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from soma import config
from soma.db import tables
from soma.oidc import pending
from tests.conftest import client_of
from tests.oidc.conftest import come_back, reconfigure, sign_in, sso_settings, start_login

STATE_INVALID = {"error": {"code": "oidc_state_invalid", "message": (
    "This sign-in is unknown, finished already, older than 10 minutes or was started in another browser; nobody was signed in."
    " Start again from the login page."
)}}  # fmt: skip
ANN = {"email": "ann@example.org", "email_verified": True, "preferred_username": "ann", "groups": ["staff", "soma-admins"]}


@pytest.fixture
def settings(tmp_path, mock_idp) -> config.Settings:
    return sso_settings(tmp_path, mock_idp.issuer, oidc_admin_groups="soma-admins")


async def _users(gateway) -> list[dict]:
    async with gateway.state.engine.begin() as conn:
        query = sa.select(tables.users.c.username, tables.users.c.role, tables.users.c.oidc_subject, tables.users.c.email)
        return [dict(r._mapping) for r in await conn.execute(query.order_by(tables.users.c.id))]


async def _me(browser) -> tuple[int, dict]:
    response = await browser.get("/v1/auth/me")
    return response.status_code, response.json()


async def test_the_login_page_learns_what_is_offered_without_signing_in(gateway) -> None:
    async with client_of(gateway) as stranger:
        assert (await stranger.get("/v1/auth/providers")).json() == {"local": True, "oidc": {"name": "Example ID"}}
        reconfigure(gateway, local_login=False, oidc_issuer=None)
        assert (await stranger.get("/v1/auth/providers")).json() == {"local": False, "oidc": None}


async def test_signing_in_creates_a_member_bound_to_issuer_and_subject_and_audits_it(gateway, api, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        response = await come_back(browser, mock_idp.authorize(await start_login(browser, "/#/knowledge"), "ann-1"))
        assert (response.status_code, response.headers["location"]) == (303, "/#/knowledge")
        status, me = await _me(browser)
        assert (status, me["username"], me["role"], me["kind"]) == (200, "ann", "admin", "user")
    assert await _users(gateway) == [{"username": "ann", "role": "admin", "oidc_subject": "ann-1", "email": "ann@example.org"}]
    entries = (await api.get("/v1/audit", params={"action": "auth.login"})).json()["entries"]
    assert [(e["actor"], e["details"]) for e in entries] == [
        ("user:ann", {"method": "oidc", "issuer": mock_idp.issuer, "subject": "ann-1", "role": "admin"})
    ]


async def test_a_callback_with_a_wrong_state_is_refused_and_starts_no_session(gateway, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        callback = mock_idp.authorize(await start_login(browser), "ann-1")
        forged = callback.replace("state=", "state=x")
        response = await come_back(browser, forged)
        assert (response.status_code, response.json()) == (400, STATE_INVALID)
        assert (await _me(browser))[0] == 401
    assert await _users(gateway) == []


async def test_a_replayed_callback_is_refused_and_starts_no_session(gateway, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        callback = mock_idp.authorize(await start_login(browser), "ann-1")
        assert (await come_back(browser, callback)).status_code == 303
        await browser.post("/v1/auth/logout", headers={"X-CSRF-Token": (await _me(browser))[1]["csrf_token"]})
        replay = await come_back(browser, callback)
        assert (replay.status_code, replay.json()) == (400, STATE_INVALID)
        assert (await _me(browser))[0] == 401
        # The same code under a fresh state of this browser: the provider refuses a code used twice.
        fresh = await start_login(browser)
        state = fresh.split("state=")[1].split("&")[0]
        code = callback.split("code=")[1].split("&")[0]
        response = await browser.get("/v1/auth/oidc/callback", params={"state": state, "code": code}, headers={"Accept": "application/json"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "oidc_provider_refused"
        assert response.json()["error"]["message"].startswith("The identity provider refused the sign-in code (invalid_grant).")
        assert (await _me(browser))[0] == 401


async def test_sign_ins_started_in_two_tabs_of_one_browser_both_finish(gateway, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        first, second = await start_login(browser, "/#/chats"), await start_login(browser, "/#/memory")
        assert (await come_back(browser, mock_idp.authorize(second, "ann-1"))).headers["location"] == "/#/memory"
        assert (await come_back(browser, mock_idp.authorize(first, "ann-1"))).headers["location"] == "/#/chats"


async def test_a_callback_finished_in_another_browser_is_refused(gateway, mock_idp) -> None:
    mock_idp.person("mallory", {"email": "mallory@example.org", "groups": []})
    async with client_of(gateway) as attacker, client_of(gateway) as victim:
        callback = mock_idp.authorize(await start_login(attacker), "mallory")
        response = await come_back(victim, callback)
        assert (response.status_code, response.json()) == (400, STATE_INVALID)
        assert (await _me(victim))[0] == 401


async def test_a_refusal_reached_by_a_browser_is_a_page_with_the_message_and_the_way_back(gateway, mock_idp) -> None:
    async with client_of(gateway) as browser:
        response = await browser.get("/v1/auth/oidc/callback?state=nothing&code=x", headers={"Accept": "text/html"})
        assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
        assert STATE_INVALID["error"]["message"] in response.text and 'href="/login"' in response.text


async def test_a_provider_error_is_named_by_its_code_only(gateway, mock_idp) -> None:
    async with client_of(gateway) as browser:
        url = await start_login(browser)
        state = url.split("state=")[1].split("&")[0]
        response = await browser.get(
            "/v1/auth/oidc/callback", headers={"Accept": "application/json"},
            params={"state": state, "error": "access_denied", "error_description": "Call +1 555 0100 to unlock your account"},
        )  # fmt: skip
        assert response.status_code == 401
        assert response.json()["error"]["message"].startswith("The identity provider answered access_denied. The identity provider did not sign you in")
        assert "555" not in response.text


async def test_an_account_is_matched_by_issuer_and_subject_never_by_email(gateway, api, mock_idp) -> None:
    created = await api.post("/v1/users", json={"username": "ann", "password": "a long local password", "role": "admin"})
    assert created.status_code == 201
    mock_idp.person("impostor", {"email": "ann@example.org", "email_verified": True, "preferred_username": "ann", "groups": []})
    async with client_of(gateway) as browser:
        assert (await sign_in(browser, mock_idp, "impostor")).status_code == 303
        assert (await _me(browser))[1]["username"] == "ann-2"  # a new member, not the local admin "ann"
    assert [(u["username"], u["role"], u["oidc_subject"]) for u in await _users(gateway)] == [("ann", "admin", None), ("ann-2", "member", "impostor")]


async def test_invite_mode_refuses_an_unverified_email_and_binds_a_verified_one(gateway, api, mock_idp) -> None:
    reconfigure(gateway, oidc_provisioning="invite", oidc_admin_groups="")
    invited = await api.post("/v1/users", json={"username": "bea", "email": "Bea@example.org", "role": "member"})
    assert invited.status_code == 201 and invited.json()["email"] == "Bea@example.org" and invited.json()["sso"] is False
    mock_idp.person("bea-1", {"email": "bea@example.org", "email_verified": False})
    async with client_of(gateway) as browser:
        response = await sign_in(browser, mock_idp, "bea-1")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "oidc_email_unverified")
        assert (await _me(browser))[0] == 401
    mock_idp.person("stranger", {"email": "stranger@example.org", "email_verified": True})
    async with client_of(gateway) as browser:
        response = await sign_in(browser, mock_idp, "stranger")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "oidc_not_invited")
    mock_idp.person("bea-1", {"email": "bea@example.org", "email_verified": True})
    async with client_of(gateway) as browser:
        assert (await sign_in(browser, mock_idp, "bea-1")).status_code == 303
        assert (await _me(browser))[1]["username"] == "bea"
    assert [(u["username"], u["oidc_subject"]) for u in await _users(gateway)] == [("bea", "bea-1")]


async def test_a_user_outside_the_allowed_groups_is_refused(gateway, api, mock_idp) -> None:
    reconfigure(gateway, oidc_allowed_groups="staff, contractors")
    mock_idp.person("visitor", {"email": "v@example.org", "groups": ["visitors"]})
    async with client_of(gateway) as browser:
        response = await sign_in(browser, mock_idp, "visitor")
        assert (response.status_code, response.json()) == (403, {"error": {"code": "oidc_not_allowed", "message": (
            "Your account at the identity provider is not in a group allowed to use Soma (SOMA_OIDC_ALLOWED_GROUPS), so nobody"
            " was signed in. Ask an admin to add you to one."
        )}})  # fmt: skip
        assert (await _me(browser))[0] == 401
    assert await _users(gateway) == []
    entries = (await api.get("/v1/audit", params={"action": "auth.login.refused"})).json()["entries"]
    assert [(e["actor"], e["target"], e["details"]["reason"]) for e in entries] == [(f"oidc:{mock_idp.issuer}", "visitor", "oidc_not_allowed")]


async def test_a_user_removed_from_the_admin_group_loses_admin_at_the_next_login(gateway, api, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        await sign_in(browser, mock_idp, "ann-1")
        assert (await _me(browser))[1]["role"] == "admin"
    mock_idp.person("ann-1", {**ANN, "groups": ["staff"]})
    async with client_of(gateway) as browser:
        await sign_in(browser, mock_idp, "ann-1")
        status, me = await _me(browser)
        assert (status, me["role"], me["scopes"]) == (200, "member", ["chat"])
        assert (await browser.get("/v1/users")).status_code == 403
    entries = (await api.get("/v1/audit", params={"action": "user.role.changed"})).json()["entries"]
    assert [(e["actor"], e["target"], e["details"]) for e in entries] == [(f"oidc:{mock_idp.issuer}", "ann", {"role": "member"})]


async def test_after_login_only_a_path_on_this_site_is_followed(gateway, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    for asked, followed in [("https://evil.example/", "/"), ("//evil.example", "/"), ("/\\evil.example", "/"), ("/\tx", "/"), ("/#/chats", "/#/chats")]:
        async with client_of(gateway) as browser:
            response = await come_back(browser, mock_idp.authorize(await start_login(browser, asked), "ann-1"))
            assert (asked, response.headers["location"]) == (asked, followed)


async def test_an_sso_session_lasts_at_most_soma_oidc_session_hours(gateway, mock_idp) -> None:
    reconfigure(gateway, oidc_session_hours=2.5)
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        response = await sign_in(browser, mock_idp, "ann-1")
        assert "Max-Age=9000" in response.headers["set-cookie"]
    async with gateway.state.engine.begin() as conn:
        s = tables.login_sessions.c
        row = (await conn.execute(sa.select(sa.extract("epoch", s.expires_at - s.created_at), s.method))).one()
    assert (float(row[0]), row[1]) == (9000.0, "oidc")


async def test_logout_ends_the_session_and_sends_the_browser_to_the_providers_end_session_endpoint(gateway, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        await sign_in(browser, mock_idp, "ann-1")
        csrf = (await _me(browser))[1]["csrf_token"]
        assert (await browser.post("/v1/auth/logout")).status_code == 403  # no CSRF token: no logout by a forged form
        response = await browser.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert response.json() == {
            "status": "logged out",
            "end_session_url": f"{mock_idp.issuer}/oauth2/end_session?client_id=soma-test&post_logout_redirect_uri=https%3A%2F%2Fsoma.test%2Flogin",
        }
        assert (await _me(browser))[0] == 401


async def test_the_emergency_stop_ends_sso_sessions(gateway, api, mock_idp) -> None:
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        await sign_in(browser, mock_idp, "ann-1")
        stop = await api.post("/v1/emergency-stop", json={"reason": "drill", "confirm": "STOP"})
        assert stop.status_code == 200, stop.text
    async with gateway.state.engine.begin() as conn:
        s = tables.login_sessions.c
        assert (await conn.execute(sa.select(s.method, s.ended_at.is_not(None)))).all() == [("oidc", True)]


async def test_an_sso_admin_counts_as_protected_for_the_tunnel(gateway, api, mock_idp) -> None:
    reconfigure(gateway, public_url="https://soma.example.org")
    refused = await api.put("/v1/tunnel", json={"enabled": True, "mode": "token"})
    assert refused.status_code == 409 and "No admin account" in refused.json()["error"]["message"]
    mock_idp.person("ann-1", ANN)
    async with client_of(gateway) as browser:
        await sign_in(browser, mock_idp, "ann-1")
    opened = await api.put("/v1/tunnel", json={"enabled": True, "mode": "token"})
    assert opened.status_code == 200, opened.text


async def test_one_address_cannot_fill_the_database_with_unfinished_sign_ins(gateway, mock_idp) -> None:
    async with client_of(gateway, address="203.0.113.7") as stranger, client_of(gateway, address="198.51.100.1") as someone:
        for _ in range(pending.MAX_PER_ADDRESS):
            assert (await stranger.get("/v1/auth/oidc/login")).status_code == 303
        refused = await stranger.get("/v1/auth/oidc/login", headers={"Accept": "application/json"})
        assert (refused.status_code, refused.headers["retry-after"], refused.json()["error"]["code"]) == (429, "600", "too_many_logins")
        assert refused.json()["error"]["message"].startswith("30 sign-ins started from your address in the last 10 minutes are unfinished.")
        assert (await someone.get("/v1/auth/oidc/login")).status_code == 303  # another address is not held up
