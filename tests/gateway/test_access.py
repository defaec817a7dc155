"""Deny by default, users and their sessions, roles, chat ownership, CSRF, rate limits, setup links."""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import AsyncIterator
import uuid

import httpx
import psycopg
import pytest
from starlette.routing import Mount

from soma.auth import setup_links
from soma.gateway import authn, openai_errors
from tests.conftest import ADMIN, client_of, database_clock_passes

PASSWORD = "correct horse battery"
# The only routes a stranger reaches: probes, login and setup (pages and endpoints), static assets, /metrics,
# whether the emergency lockdown is on (the login page shows it), and what the login page offers with single sign-on's two ends.
ALLOWED_WITHOUT_CREDENTIALS = {
    "/health", "/ready", "/login", "/setup", "/v1/auth/login", "/v1/auth/setup", "/metrics", "/v1/status/lockdown",
    "/v1/auth/providers", "/v1/auth/oidc/login", "/v1/auth/oidc/callback",
}
SAMPLE_PARAMS = {"session_id": str(uuid.uuid4()), "document_id": str(uuid.uuid4()), "memory_id": "1", "user_id": "1", "key_id": "1", "restore_id": str(uuid.uuid4()), "task_id": str(uuid.uuid4()), "message_id": "1", "call_id": "m1g1s1c0", "name": "github", "server": "github", "tool": "create_issue", "path": "data/sales.csv"}


def all_routes(routes) -> list:
    """Every route the app serves, with included routers flattened (FastAPI nests them)."""
    flat = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            prefix = route.include_context.prefix
            flat += [(prefix, r) for _, r in all_routes(included.routes)]
        else:
            flat.append(("", route))
    return flat


def _concrete(path: str) -> str:
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # a convertor's name ({server:tools_server}) is no part of the parameter's
    for name, value in SAMPLE_PARAMS.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"add a sample value for {path} to SAMPLE_PARAMS"
    return path


async def test_every_route_refuses_a_stranger_unless_it_is_on_the_allow_list(gateway) -> None:
    checked = 0
    async with client_of(gateway) as stranger:
        for prefix, route in all_routes(gateway.routes):
            path = prefix + route.path
            if isinstance(route, Mount):
                assert path == "/static", f"unexpected mount {path}: is it meant to be public?"
                continue
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method == "HEAD":
                    continue
                response = await stranger.request(method, _concrete(path), headers={"Accept": "application/json"})
                checked += 1
                if path in ALLOWED_WITHOUT_CREDENTIALS:
                    assert response.status_code != 401, f"{method} {path} should be public"
                else:
                    assert response.status_code == 401, f"{method} {path} answered {response.status_code} to a stranger"
                    openai_shaped = path in openai_errors.PATHS  # OpenAI clients read OpenAI's code for a bad key
                    assert response.json()["error"]["code"] == ("invalid_api_key" if openai_shaped else "unauthenticated")
    assert checked > 20


async def test_a_browser_without_a_session_is_sent_to_the_login_page(gateway) -> None:
    async with client_of(gateway) as stranger:
        response = await stranger.get("/", headers={"Accept": "text/html"})
    assert (response.status_code, response.headers["location"]) == (303, "/login")


async def _user(api, name: str, role: str = "member") -> dict:
    response = await api.post("/v1/users", json={"username": name, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.text
    return response.json()


@contextlib.asynccontextmanager
async def _logged_in(app, name: str, password: str = PASSWORD) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a login session's cookie and CSRF header, like the web UI."""
    async with client_of(app) as client:
        response = await client.post("/v1/auth/login", json={"username": name, "password": password})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


async def test_login_sets_a_host_prefixed_httponly_samesite_secure_cookie(api, gateway) -> None:
    await _user(api, "ann")
    async with client_of(gateway) as client:
        response = await client.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{authn.COOKIE}=")
    for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Secure"):
        assert flag.lower() in cookie.lower(), cookie
    assert "domain=" not in cookie.lower()


async def test_a_member_gets_403_on_admin_routes_and_404_on_another_members_chat(api, gateway) -> None:
    await _user(api, "ann")
    await _user(api, "bob")
    async with _logged_in(gateway, "ann") as ann, _logged_in(gateway, "bob") as bob:
        chat = (await ann.post("/v1/sessions", json={})).json()
        assert (await ann.get(f"/v1/sessions/{chat['id']}")).status_code == 200
        for path in (f"/v1/sessions/{chat['id']}", f"/v1/sessions/{chat['id']}/messages", f"/v1/sessions/{chat['id']}/events"):
            assert (await bob.get(path)).status_code == 404, path
        assert (await bob.post(f"/v1/sessions/{chat['id']}/messages", json={"content": "hi"})).status_code == 404
        assert [s["id"] for s in (await bob.get("/v1/sessions")).json()["sessions"]] == []
        assert chat["id"] in [s["id"] for s in (await api.get("/v1/sessions")).json()["sessions"]]  # admins see all
        for method, path, body in (
            ("GET", "/v1/users", None), ("POST", "/v1/keys", {"name": "x", "scopes": ["chat"]}),
            ("GET", "/v1/audit", None), ("PUT", "/v1/settings", {"temperature": 0.5}),
            ("POST", "/v1/memories", {"content": "x"}), ("DELETE", "/v1/memories/1", None),
        ):  # fmt: skip
            response = await bob.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
        assert (await bob.get("/v1/settings")).status_code == 200  # reading the agent's state is fine


async def test_state_changing_cookie_requests_need_the_csrf_token(api, gateway) -> None:
    await _user(api, "ann")
    async with _logged_in(gateway, "ann") as ann:
        token = ann.headers.pop("X-CSRF-Token")
        refused = await ann.post("/v1/sessions", json={})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf")
        assert (await ann.post("/v1/sessions", json={}, headers={"X-CSRF-Token": "forged"})).status_code == 403
        assert (await ann.post("/v1/sessions", json={}, headers={"X-CSRF-Token": token})).status_code == 201
        assert (await ann.get("/v1/sessions")).status_code == 200  # reads need none


async def test_logout_and_password_change_end_the_session(api, gateway) -> None:
    await _user(api, "ann")
    async with _logged_in(gateway, "ann") as ann:
        cookie = ann.cookies.get(authn.COOKIE)
        assert (await ann.post("/v1/auth/logout")).status_code == 200
        async with client_of(gateway) as replay:
            replay.cookies.set(authn.COOKIE, cookie, domain="soma.test")
            assert (await replay.get("/v1/sessions")).status_code == 401
    async with _logged_in(gateway, "ann") as ann:
        changed = await ann.post("/v1/auth/password", json={"current_password": PASSWORD, "new_password": "another long password"})
        assert changed.status_code == 200
        assert (await ann.get("/v1/sessions")).status_code == 401
    async with _logged_in(gateway, "ann", "another long password") as again:
        assert (await again.get("/v1/sessions")).status_code == 200


@contextlib.asynccontextmanager
async def _ann_logged_in_to(settings, database_url: str, **changes: float) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with some settings changed, and user ann logged in to it."""
    from soma.gateway import app as gateway_app

    app = gateway_app.create(settings.model_copy(update=changes), database_url)
    async with app.router.lifespan_context(app):
        async with client_of(app, ADMIN) as admin:
            await _user(admin, "ann")
        async with _logged_in(app, "ann") as ann:
            yield ann


ANNS_LOGIN = "(SELECT {} FROM login_sessions JOIN users ON users.id = login_sessions.user_id WHERE username = 'ann')"


async def test_sessions_expire_when_idle(settings, database_url) -> None:
    async with _ann_logged_in_to(settings, database_url, session_idle_seconds=1.0) as ann:
        assert (await ann.get("/v1/sessions")).status_code == 200
        await database_clock_passes(database_url, ANNS_LOGIN.format("last_seen_at + interval '1 second'"))
        assert (await ann.get("/v1/sessions")).status_code == 401


async def test_sessions_end_at_their_absolute_expiry(settings, database_url) -> None:
    # 3 s, not 1: the request before the deadline must make it on a loaded machine too.
    async with _ann_logged_in_to(settings, database_url, session_max_seconds=3.0) as ann:
        assert (await ann.get("/v1/sessions")).status_code == 200  # in use (the idle limit is hours): only the absolute limit can end it
        await database_clock_passes(database_url, ANNS_LOGIN.format("expires_at"))
        assert (await ann.get("/v1/sessions")).status_code == 401
    with psycopg.connect(database_url) as conn:
        [lifetime] = conn.execute(ANNS_LOGIN.format("expires_at - login_sessions.created_at")).fetchone()
    assert lifetime == datetime.timedelta(seconds=3)  # the expiry passed is the one SOMA_SESSION_MAX_SECONDS set


async def test_a_disabled_user_is_logged_out_at_once(api, gateway) -> None:
    user = await _user(api, "ann")
    async with _logged_in(gateway, "ann") as ann:
        assert (await api.patch(f"/v1/users/{user['id']}", json={"disabled": True})).status_code == 200
        assert (await ann.get("/v1/sessions")).status_code == 401
    async with client_of(gateway) as again:
        assert (await again.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})).status_code == 401


async def test_the_setup_link_works_once_and_not_after_expiry(gateway) -> None:
    engine = gateway.state.engine
    async with engine.begin() as conn:
        expired = await setup_links.issue(conn, datetime.timedelta(seconds=-1))
    token = await setup_links.offer(engine)
    async with client_of(gateway) as first, client_of(gateway) as second:
        body = {"username": "admin", "password": PASSWORD}
        assert (await first.post("/v1/auth/setup", json={**body, "token": expired})).status_code == 410
        made = await first.post("/v1/auth/setup", json={**body, "token": token})
        assert made.status_code == 200 and made.json()["role"] == "admin"
        again = await second.post("/v1/auth/setup", json={**body, "token": token, "username": "mallory"})
        assert (again.status_code, again.json()["error"]["code"]) == (410, "setup_link_invalid")
        assert (await first.get("/v1/users", headers={"X-CSRF-Token": made.json()["csrf_token"]})).status_code == 200
    assert await setup_links.offer(engine) is None  # a user exists: no more setup links


async def test_a_second_setup_link_is_refused_once_the_first_made_an_account(gateway) -> None:
    async with gateway.state.engine.begin() as conn:
        first, second = await setup_links.issue(conn), await setup_links.issue(conn)  # `soma up` run twice
    async with client_of(gateway) as client:
        body = {"username": "admin", "password": PASSWORD}
        assert (await client.post("/v1/auth/setup", json={**body, "token": first})).status_code == 200
        refused = await client.post("/v1/auth/setup", json={**body, "token": second, "username": "mallory"})

    assert (refused.status_code, refused.json()) == (409, {"error": {"code": "setup_done", "message": (
        "An account exists already, so setup links no longer work. Log in, or ask an admin to create your account."
    )}})  # fmt: skip


async def test_an_api_key_has_no_password_to_change(api) -> None:
    refused = await api.post("/v1/auth/password", json={"current_password": PASSWORD, "new_password": "another long password"})

    assert (refused.status_code, refused.json()) == (403, {"error": {"code": "forbidden", "message": (
        "An API key has no password to change. Log in on the web UI to change your own; an admin resets another "
        "user's with `soma users reset-password`."
    )}})  # fmt: skip


async def test_passwords_are_stored_as_argon2id_and_no_secret_reaches_the_audit_log(api, gateway, database_url) -> None:
    await _user(api, "ann")
    async with client_of(gateway) as client:
        await client.post("/v1/auth/login", json={"username": "ann", "password": "a wrong password"})
    key = (await api.post("/v1/keys", json={"name": "ci", "scopes": ["chat"]})).json()["key"]
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        [password_hash] = conn.execute("SELECT password_hash FROM users WHERE username = 'ann'").fetchone()
        audit = " ".join(str(row) for row in conn.execute("SELECT * FROM audit_log").fetchall())
        stored_key = conn.execute("SELECT token_hash FROM api_keys WHERE name = 'ci'").fetchone()[0]
    assert password_hash.startswith("$argon2id$")
    assert key.startswith("soma_") and len(key) >= 5 + 43 and key != stored_key
    for secret in (PASSWORD, "a wrong password", key, ADMIN["Authorization"].split()[1]):
        assert secret not in audit


async def test_a_key_with_only_the_metrics_scope_reaches_nothing_else(api, gateway) -> None:
    key = (await api.post("/v1/keys", json={"name": "prometheus", "scopes": ["metrics"]})).json()["key"]
    async with client_of(gateway, {"Authorization": f"Bearer {key}"}) as scraper:
        assert (await scraper.get("/metrics")).status_code == 200
        assert (await scraper.get("/v1/sessions")).status_code == 403


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer soma_unknown"])
async def test_a_bad_authorization_header_is_401(gateway, header: str) -> None:
    async with client_of(gateway, {"Authorization": header}) as client:
        assert (await client.get("/v1/sessions")).status_code == 401


async def test_an_admin_cannot_disable_or_demote_their_own_account(api, gateway) -> None:
    grace = await _user(api, "grace", role="admin")
    async with _logged_in(gateway, "grace") as client:
        for change in ({"disabled": True}, {"role": "member"}):
            refused = await client.patch(f"/v1/users/{grace['id']}", json=change)
            assert (refused.status_code, refused.json()) == (403, {"error": {"code": "forbidden", "message": (
                "Admins cannot disable or demote their own account, so an admin always remains. Ask another admin to do it."
            )}})  # fmt: skip
        assert (await client.get("/v1/users")).status_code == 200


async def test_an_expired_key_is_refused_on_its_next_request(api, gateway, database_url) -> None:
    created = await api.post("/v1/keys", json={"name": "short-lived", "scopes": ["chat"], "expires_days": 1.5 / 86400})
    async with client_of(gateway, {"Authorization": f"Bearer {created.json()['key']}"}) as client:
        assert (await client.get("/v1/sessions")).status_code == 200  # and now in the gateway's key cache
        await database_clock_passes(database_url, "SELECT expires_at FROM api_keys WHERE name = 'short-lived'")
        refused = await client.get("/v1/sessions")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthenticated")
