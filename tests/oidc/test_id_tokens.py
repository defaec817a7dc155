"""Every ID token check, against a stand-in provider process that signs with its own key and spoils tokens on request.

Each refusal is a whole error body and leaves no session and no account behind (docs/security.md, "Single sign-on").
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from soma import config
from soma.db import tables
from tests.conftest import client_of
from tests.oidc.conftest import CLIENT_ID, come_back, sign_in, sso_settings, start_login

TOKEN_INVALID = (
    "The identity provider's ID token failed Soma's checks, so nobody was signed in. Start again from the login page; if it keeps"
    " failing, an admin should compare SOMA_OIDC_ISSUER and SOMA_OIDC_CLIENT_ID with the provider's settings and the clocks of both machines."
)
PERSON = {"email": "ann@example.org", "email_verified": True, "preferred_username": "ann"}


@pytest.fixture
def settings(tmp_path, stand_in_idp) -> config.Settings:
    return sso_settings(tmp_path, stand_in_idp.issuer)


async def _refused(gateway, stand_in_idp, fault: str, detail: str) -> None:
    stand_in_idp.next_login("ann-sub", PERSON, fault)
    async with client_of(gateway) as browser:
        response = await sign_in(browser, stand_in_idp)
        assert (response.status_code, response.json()) == (401, {"error": {"code": "oidc_token_invalid", "message": f"{detail} {TOKEN_INVALID}"}})
        assert "set-cookie" not in response.headers or "soma_session" not in response.headers["set-cookie"]
        assert (await browser.get("/v1/auth/me")).status_code == 401
    async with gateway.state.engine.begin() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(tables.users))).scalar_one() == 0


async def test_an_id_token_for_another_audience_is_refused(gateway, stand_in_idp) -> None:
    await _refused(gateway, stand_in_idp, "audience", "The ID token's 'aud' claim is wrong.")


async def test_an_expired_id_token_is_refused(gateway, stand_in_idp) -> None:
    await _refused(gateway, stand_in_idp, "expired", "The ID token has expired.")


async def test_an_id_token_with_a_bad_signature_is_refused(gateway, stand_in_idp) -> None:
    await _refused(gateway, stand_in_idp, "signature", "The ID token's signature does not verify (bad_signature).")


async def test_an_id_token_from_another_issuer_is_refused(gateway, stand_in_idp) -> None:
    await _refused(gateway, stand_in_idp, "issuer", "The ID token's 'iss' claim is wrong.")


async def test_an_id_token_with_a_wrong_nonce_is_refused(gateway, stand_in_idp) -> None:
    await _refused(gateway, stand_in_idp, "nonce", "The ID token's 'nonce' claim is wrong.")


async def test_the_login_asks_for_a_code_with_pkce_state_and_nonce(gateway, stand_in_idp) -> None:
    async with client_of(gateway) as browser:
        url = await start_login(browser)
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(stand_in_idp.issuer + "/authorize?")
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["redirect_uri"] == "https://soma.test/v1/auth/oidc/callback"
        assert query["scope"] == "openid email profile" and query["code_challenge_method"] == "S256"
        assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43 and len(query["code_challenge"]) == 43
        # the stand-in refuses a code whose verifier does not match the challenge: this sign-in proves Soma kept it
        stand_in_idp.next_login("ann-sub", PERSON)
        response = await come_back(browser, stand_in_idp.authorize(url))
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert (await browser.get("/v1/auth/me")).json()["username"] == "ann"


async def test_a_signing_key_rotated_at_the_provider_is_followed(gateway, stand_in_idp) -> None:
    stand_in_idp.next_login("ann-sub", PERSON)
    async with client_of(gateway) as browser:
        assert (await sign_in(browser, stand_in_idp)).status_code == 303  # the JWKS is cached now
    stand_in_idp.rotate()
    stand_in_idp.next_login("ann-sub", PERSON)
    async with client_of(gateway) as browser:
        response = await sign_in(browser, stand_in_idp)
        assert response.status_code == 303, response.text
        assert (await browser.get("/v1/auth/me")).json()["username"] == "ann"
