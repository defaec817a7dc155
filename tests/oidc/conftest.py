"""Identity providers as real processes, and a sign-in driven with httpx the way a browser follows it.

`mock_idp` is oidc-provider-mock (PyPI), a real OpenID provider built on Authlib: a test sets a person's claims with
`mock_idp.person(sub, claims)`. `stand_in_idp` is tests/oidc/stand_in_provider.py, for the ID tokens a well-behaved
provider never issues (another audience, expired, badly signed) and for a rotated signing key. Both start once per
test process. `sign_in` drives Soma's GET /v1/auth/oidc/login, the provider, and the callback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from soma import config
from tests import procs
from tests.conftest import ADMIN_KEY

CLIENT_ID = "soma-test"
CLIENT_SECRET = "a client secret only the tests know"


@dataclass
class Provider:
    issuer: str
    proc: procs.Proc

    def person(self, sub: str, claims: dict) -> None:
        """oidc-provider-mock: who `sub` is from now on (their ID token's claims)."""
        httpx.put(f"{self.issuer}/users/{sub}", json=claims).raise_for_status()

    def next_login(self, sub: str, claims: dict | None = None, fault: str = "") -> None:
        """The stand-in: who its next sign-in is, and how their ID token is spoilt."""
        httpx.post(f"{self.issuer}/_next", json={"sub": sub, "claims": claims or {}, "fault": fault}).raise_for_status()

    def rotate(self) -> None:
        """The stand-in: sign with a new key (a new `kid`) from now on."""
        httpx.post(f"{self.issuer}/_rotate").raise_for_status()

    def authorize(self, url: str, sub: str | None = None) -> str:
        """Sign in at the provider's authorization URL; returns where it sends the browser back (Soma's callback)."""
        if sub is None:  # the stand-in signs in whoever next_login named, at once
            response = httpx.get(url)
        else:  # oidc-provider-mock's form: the person's subject, then Authorize
            response = httpx.post(url, data={"sub": sub})
        assert response.status_code == 302, response.text
        return response.headers["location"]


def _start(launcher: procs.Launcher, name: str, argv: list[str]) -> Provider:
    port = procs.free_port()
    proc = launcher.start(name, [sys.executable, *argv, str(port)], {})
    issuer = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.alive(), f"{name} exited:\n{proc.output()}"
        try:
            return httpx.get(issuer + "/.well-known/openid-configuration", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    procs.wait_until(up, 20, name)
    return Provider(issuer, proc)


@pytest.fixture(scope="session")
def mock_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    launcher = procs.Launcher(tmp_path_factory.mktemp("mock-idp"))
    yield _start(launcher, "mock-idp", ["-m", "oidc_provider_mock", "--port"])
    launcher.stop_all()


@pytest.fixture(scope="session")
def stand_in_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    launcher = procs.Launcher(tmp_path_factory.mktemp("stand-in-idp"))
    yield _start(launcher, "stand-in-idp", [str(Path(__file__).parent / "stand_in_provider.py")])
    launcher.stop_all()


def sso_settings(tmp_path, issuer: str, **changes: object) -> config.Settings:
    """The tests' in-process settings with single sign-on at `issuer`."""
    return config.Settings(
        _env_file=None, data_dir=tmp_path, database_url=None, slm_api_key="test-key", bootstrap_admin_key=ADMIN_KEY,
        oidc_issuer=issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, oidc_name="Example ID", **changes,
    )  # fmt: skip


def reconfigure(app, **changes: object) -> None:
    """Change an in-process gateway's settings, as a restart with other SOMA_OIDC_* values would."""
    app.state.settings = app.state.settings.model_copy(update=changes)


async def start_login(browser: httpx.AsyncClient, next_path: str | None = None) -> str:
    """GET /v1/auth/oidc/login in this browser; returns the provider's authorization URL it is sent to."""
    response = await browser.get("/v1/auth/oidc/login", params={"next": next_path} if next_path else None)
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def come_back(browser: httpx.AsyncClient, callback: str) -> httpx.Response:
    """Follow the provider's redirect to Soma's callback in this browser."""
    parts = urlsplit(callback)
    assert parts.path == "/v1/auth/oidc/callback", callback
    return await browser.get(f"{parts.path}?{parts.query}", headers={"Accept": "application/json"})


async def sign_in(browser: httpx.AsyncClient, idp: Provider, sub: str | None = None) -> httpx.Response:
    """The whole round: Soma, the provider, Soma's callback; returns the callback's answer."""
    return await come_back(browser, idp.authorize(await start_login(browser), sub))
