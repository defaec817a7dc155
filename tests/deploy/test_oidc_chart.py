"""soma-stack's single sign-on: settings in the ConfigMap, the client secret from Vault or a Secret mounted as a file into the gateway only."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import pytest
from kubernetes_validate import utils as k8s

from soma import config
from soma.secrets import sources
from tests.deploy import charts

ISSUER = "https://id.example.org/realms/staff"
SECRET = "a client secret from the identity provider"


def _render(vault: bool = False, local_login: bool = True, **oidc: Any) -> list[charts.Manifest]:
    chart_values = charts.values("dev")
    chart_values["vault"]["enabled"] = vault
    chart_values["auth"]["localLogin"] = local_login
    chart_values["auth"]["oidc"] = oidc
    return charts.render_values("soma-stack", chart_values, "soma")


def _settings(workload: charts.Manifest, manifests: list[charts.Manifest]) -> config.Settings:
    env = {name.removeprefix(config.ENV_PREFIX).lower(): value for name, value in charts.environment(workload, manifests).items()}
    return config.Settings(_env_file=None, **{k: v for k, v in env.items() if k in config.Settings.model_fields and isinstance(v, str)})


def test_single_sign_on_is_off_unless_an_issuer_is_given() -> None:
    manifests = charts.rendered("soma-stack", "dev")
    data = charts.find(manifests, "ConfigMap", "soma")["data"]
    assert data["SOMA_LOCAL_LOGIN"] == "true" and not [k for k in data if k.startswith("SOMA_OIDC_")]
    assert [m for m in manifests if m["metadata"]["name"] == "soma-oidc-client-secret"] == []


def test_the_client_secret_is_a_file_in_the_gateway_alone() -> None:
    manifests = _render(local_login=False, issuer=ISSUER, clientId="soma", adminGroups="soma-admins", clientSecret={"value": SECRET})
    gateway, worker = charts.find(manifests, "Deployment", "gateway"), charts.find(manifests, "Deployment", "conversation-worker")
    settings = _settings(gateway, manifests)
    assert (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_admin_groups, settings.local_login) == (ISSUER, "soma", "soma-admins", False)
    assert str(settings.oidc_client_secret_file) == "/var/run/secrets/soma-oidc/client-secret"
    assert sources.chosen(sources.for_oidc_client_secret(settings)).origin.startswith("file /var/run/secrets/soma-oidc/client-secret")
    assert SECRET not in str(charts.environment(gateway, manifests)) and "SOMA_OIDC_CLIENT_SECRET" not in charts.environment(gateway, manifests)
    [volume] = [v for v in charts.pod_spec(gateway)["volumes"] if v["name"] == "oidc-client-secret"]
    assert volume["secret"]["secretName"] == "soma-oidc-client-secret" and volume["secret"]["items"] == [{"key": "client-secret", "path": "client-secret"}]
    assert "oidc-client-secret" not in str(charts.pod_spec(worker)) and "SOMA_OIDC_CLIENT_SECRET_FILE" not in charts.environment(worker, manifests)
    for kind, name in (("Deployment", "gateway"), ("Secret", "soma-oidc-client-secret"), ("ConfigMap", "soma")):
        k8s.validate(charts.find(manifests, kind, name), k8s.latest_version(), strict=True)


def test_an_existing_secret_is_mounted_by_name_and_key() -> None:
    manifests = _render(issuer=ISSUER, clientId="soma", clientSecret={"existingSecret": "corp-sso", "key": "secret"})
    [volume] = [v for v in charts.pod_spec(charts.find(manifests, "Deployment", "gateway"))["volumes"] if v["name"] == "oidc-client-secret"]
    assert volume["secret"]["secretName"] == "corp-sso" and volume["secret"]["items"] == [{"key": "secret", "path": "client-secret"}]


def test_with_vault_the_client_secret_is_read_from_vault() -> None:
    manifests = _render(vault=True, issuer=ISSUER, clientId="soma")
    settings = _settings(charts.find(manifests, "Deployment", "gateway"), manifests)
    assert settings.oidc_client_secret_file is None and settings.vault_addr
    assert str(sources.chosen(sources.for_oidc_client_secret(settings)).where) == "kv/oidc/client-secret"


@pytest.mark.parametrize(
    ("oidc", "message"),
    [
        ({"issuer": ISSUER, "clientSecret": {"value": SECRET}}, "set auth.oidc.clientId"),
        ({"issuer": ISSUER, "clientId": "soma"}, "set auth.oidc.clientSecret.existingSecret (and .key)"),
    ],
)
def test_the_chart_refuses_single_sign_on_it_could_not_complete(oidc: dict, message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        _render(**oidc)
