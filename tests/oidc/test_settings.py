"""Single sign-on's settings: refused at load or at the gateway's start, naming what to set."""

from __future__ import annotations

import pydantic
import pytest

from soma import config, errors
from soma.gateway import app as gateway_app
from soma.oidc import provider


def test_an_issuer_over_plain_http_is_refused_unless_on_this_machine() -> None:
    with pytest.raises(pydantic.ValidationError, match="give the provider's https issuer URL"):
        config.Settings(_env_file=None, oidc_issuer="http://id.example.org/realms/staff")
    assert config.Settings(_env_file=None, oidc_issuer="http://127.0.0.1:9400").oidc_issuer == "http://127.0.0.1:9400"
    assert config.Settings(_env_file=None, oidc_issuer=" ").oidc_issuer is None


def test_a_gateway_with_an_issuer_but_no_client_id_does_not_start(tmp_path) -> None:
    settings = config.Settings(_env_file=None, data_dir=tmp_path, oidc_issuer="https://id.example.org")
    with pytest.raises(errors.OIDCSettingsInvalid, match="SOMA_OIDC_ISSUER is set but SOMA_OIDC_CLIENT_ID is not"):
        gateway_app.create(settings, "postgresql://unused/soma")


def test_openid_is_always_asked_for_and_each_scope_once() -> None:
    assert provider.scopes("email profile email") == "openid email profile"
    assert provider.scopes("openid,groups") == "openid groups"
