"""Single sign-on in a real headless Chromium: a gateway process with local login off, a real OpenID provider process
(oidc-provider-mock), the login page's button, the provider's own form, and logout at the provider."""

from __future__ import annotations

import re

from tests import procs
from tests.acceptance.browser import browser, console, expect, new_page  # noqa: F401
from tests.conftest import ADMIN_KEY
from tests.oidc.conftest import CLIENT_ID, CLIENT_SECRET, mock_idp  # noqa: F401


def test_a_person_signs_in_with_the_identity_provider_and_logs_out_there_too(database_url, launcher, mock_idp, new_page, console) -> None:
    console.allow_http_errors(401, 404)  # the app's first look before signing in; the provider's pages have no favicon
    port = procs.free_port()
    env = procs.soma_env(
        database_url, port=port, bootstrap_admin_key=ADMIN_KEY, slm_api_key="test-key", local_login="false",
        oidc_issuer=mock_idp.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, oidc_name="Example ID",
        oidc_admin_groups="soma-admins",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    procs.wait_healthy(url, launcher.soma("gateway", env))
    mock_idp.person("ada-1", {"email": "ada@example.org", "email_verified": True, "preferred_username": "ada", "groups": ["soma-admins"]})

    page = new_page()
    # The provider's pages load a stylesheet from a CDN, which this machine cannot reach: answer it empty.
    page.context.route(re.compile(r"^https://"), lambda route: route.fulfill(status=200, body="", content_type="text/css"))
    page.goto(url + "/#/knowledge")
    expect(page).to_have_url(f"{url}/login#/knowledge")  # no session: sent to the login page, keeping where it was going
    sso = page.get_by_test_id("login-sso")
    expect(sso).to_have_text("Sign in with Example ID")
    expect(page.get_by_test_id("login-form")).to_have_count(0)  # local login is off: no password form at all

    sso.click()
    expect(page).to_have_url(re.compile(re.escape(mock_idp.issuer) + "/oauth2/authorize"))
    page.locator("input[name=sub]").fill("ada-1")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_test_id("account-name")).to_have_text("ada")
    expect(page.get_by_test_id("account-role")).to_have_text("admin")
    expect(page).to_have_url(f"{url}/#/knowledge")  # back where the login began

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(re.escape(mock_idp.issuer) + "/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()
    expect(page).to_have_url(f"{url}/login")
    expect(page.get_by_test_id("login-sso")).to_be_visible()
    page.goto(url)
    expect(page).to_have_url(f"{url}/login")  # Soma's session ended too
