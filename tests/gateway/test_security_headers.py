"""Headers and cookies for browsers: the security headers on every UI page and asset, the CSRF check, and only `__Host-` on HTTPS.

docs/security.md, "The public door", names the threat each test answers.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx

from soma.gateway import authn, headers
from soma.web import pages
from tests.conftest import ADMIN, client_of

PASSWORD = "correct horse battery"
EXPECTED = {
    "content-security-policy": "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
PAGES = ("/", "/login", "/setup")


def _security_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers.get(name) for name in EXPECTED}


async def test_every_ui_page_and_asset_carries_the_security_headers(gateway) -> None:
    assets = sorted(f"/static/{path.relative_to(pages.STATIC)}" for path in pages.STATIC.rglob("*") if path.is_file())
    assert "/static/app.js" in assets and "/static/style.css" in assets
    async with client_of(gateway, ADMIN) as admin:
        for path in (*PAGES, *assets):
            response = await admin.get(path, headers={"Accept": "text/html"})
            assert response.status_code == 200, path
            assert _security_headers(response) == EXPECTED, path
    async with client_of(gateway) as stranger:  # refusals carry them too: the redirect to /login, the API's 401
        for path, status in (("/", 303), ("/v1/sessions", 401)):
            refused = await stranger.get(path, headers={"Accept": "text/html"})
            assert (refused.status_code, _security_headers(refused)) == (status, EXPECTED), path
    assert headers.CONTENT_SECURITY_POLICY == EXPECTED["content-security-policy"]


def test_the_ui_pages_load_only_their_own_files_and_run_no_inline_script() -> None:
    for page in ("index.html", "login.html", "setup.html"):
        html = (pages.STATIC / page).read_text()
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert scripts and all(re.search(r'src="/static/[\w.-]+\.js"', attrs) and not body.strip() for attrs, body in scripts), page
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:|=\"data:", html), page


async def _user(api, name: str) -> None:
    response = await api.post("/v1/users", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text


@contextlib.asynccontextmanager
async def _logged_in(app, base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """A client logged in as ann at base_url: (client, cookie name, cookie value); the CSRF header is set."""
    async with client_of(app) as client:
        client.base_url = base_url
        response = await client.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
        assert response.status_code == 200, response.text
        name, _, rest = response.headers["set-cookie"].partition("=")
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        client.cookies.clear()
        yield client, name, rest.split(";")[0]


async def test_a_wrong_or_non_ascii_csrf_token_is_refused(api, gateway) -> None:
    await _user(api, "ann")
    async with _logged_in(gateway, "https://soma.test") as (ann, name, value):
        cookie = {"Cookie": f"{name}={value}"}
        token = ann.headers.pop("X-CSRF-Token")
        for forged in ("", token[:-1], token + "x", "é" + token[1:], "\u00ff" * len(token)):  # not ASCII: a 403, never a 500
            refused = await ann.post("/v1/sessions", json={}, headers={**cookie, "X-CSRF-Token": forged.encode()})
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf"), forged
        assert (await ann.post("/v1/sessions", json={}, headers={**cookie, "X-CSRF-Token": token})).status_code == 201


async def test_on_an_https_origin_only_the_host_prefixed_cookie_is_accepted(api, gateway, settings) -> None:
    await _user(api, "ann")
    door = f"http://soma.internal:{settings.tunnel_origin_port}"  # the tunnel's door: HTTPS at Cloudflare
    for origin in ("https://soma.test", door):
        async with _logged_in(gateway, origin) as (ann, name, value):
            assert name == authn.COOKIE
            planted = await ann.get("/v1/auth/me", headers={"Cookie": f"{authn.PLAIN_HTTP_COOKIE}={value}"})
            assert (planted.status_code, planted.json()["error"]["code"]) == (401, "unauthenticated"), origin
            both = f"{authn.PLAIN_HTTP_COOKIE}=planted; {authn.COOKIE}={value}"
            assert (await ann.get("/v1/auth/me", headers={"Cookie": both})).json()["username"] == "ann"


async def test_over_plain_http_elsewhere_the_plain_cookie_still_works(api, gateway) -> None:
    await _user(api, "ann")
    async with _logged_in(gateway, "http://soma.internal") as (ann, name, value):
        assert name == authn.PLAIN_HTTP_COOKIE
        response = await ann.get("/v1/auth/me", headers={"Cookie": f"{name}={value}"})
    assert response.json()["username"] == "ann"
