"""soma-stack's optional `tunnel` Deployment: `soma tunnel run` with its token from a Secret file or Vault, never in env."""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

import helm_python as helm
import pytest
from kubernetes_validate import utils as k8s

from soma import config
from soma.tunnel import state
from tests.deploy import charts

PUBLIC_URL = "https://soma.example.org"
TOKEN = "eyJhIjoiYWNjb3VudCIsInQiOiJ0dW5uZWwiLCJzIjoic2VjcmV0In0="


def _render(vault: bool = False, **tunnel: Any) -> list[charts.Manifest]:
    chart_values = charts.values("dev")
    chart_values["vault"]["enabled"] = vault
    chart_values["tunnel"] = tunnel
    return charts.render_values("soma-stack", chart_values, "soma")


def test_no_tunnel_deployment_unless_enabled() -> None:
    manifests = charts.rendered("soma-stack", "dev")
    assert [m for m in manifests if m["metadata"]["name"] in ("tunnel", "soma-tunnel-token")] == []
    assert "SOMA_PUBLIC_URL" not in charts.find(manifests, "ConfigMap", "soma")["data"]


def test_the_tunnel_runs_soma_tunnel_run_with_the_token_as_a_mounted_file() -> None:
    manifests = _render(enabled=True, publicUrl=PUBLIC_URL, token={"value": TOKEN})
    tunnel = charts.find(manifests, "Deployment", "tunnel")
    container = charts.container(tunnel)
    assert (tunnel["spec"]["replicas"], container["args"]) == (2, ["tunnel", "run"])
    env = charts.environment(tunnel, manifests)
    assert env["SOMA_PUBLIC_URL"] == PUBLIC_URL  # in the ConfigMap, so the gateway sees it too
    assert (env["SOMA_TUNNEL_TOKEN_FILE"], env["SOMA_TUNNEL_TOKEN_VAULT_PATH"]) == ("/var/run/secrets/soma-tunnel/token", "cloudflare/tunnel-token")
    assert TOKEN not in str(env) and "SOMA_TUNNEL_TOKEN" not in env
    [volume] = [v for v in charts.pod_spec(tunnel)["volumes"] if v["name"] == "tunnel-token"]
    assert volume["secret"] == {"secretName": "soma-tunnel-token", "items": [{"key": "token", "path": "token"}]}
    assert charts.find(manifests, "Secret", "soma-tunnel-token")["data"] == {"token": base64.b64encode(TOKEN.encode()).decode()}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    for kind, name in (("Deployment", "tunnel"), ("Secret", "soma-tunnel-token")):
        k8s.validate(charts.find(manifests, kind, name), k8s.latest_version(), strict=True)


def test_with_vault_the_tunnel_needs_no_secret() -> None:
    manifests = _render(vault=True, enabled=True, publicUrl=PUBLIC_URL)
    env = charts.environment(charts.find(manifests, "Deployment", "tunnel"), manifests)
    assert "SOMA_TUNNEL_TOKEN_FILE" not in env and env["SOMA_VAULT_ADDR"]


@pytest.mark.parametrize(
    ("tunnel", "message"),
    [
        ({"enabled": True, "token": {"value": TOKEN}}, "set tunnel.publicUrl to it"),
        ({"enabled": True, "publicUrl": PUBLIC_URL}, "set tunnel.token.existingSecret (and .key)"),
    ],
)
def test_the_chart_refuses_a_tunnel_it_could_not_open(tunnel: dict, message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        _render(**tunnel)


def test_a_public_url_with_a_path_is_refused_by_the_schema() -> None:
    with pytest.raises(helm.HelmValuesError, match="publicUrl"):
        _render(enabled=True, publicUrl="https://soma.example.org/app", token={"value": TOKEN})


def _settings(workload: charts.Manifest, manifests: list[charts.Manifest]) -> config.Settings:
    """The settings the workload's process reads from its rendered environment."""
    env = {name.removeprefix(config.ENV_PREFIX).lower(): value for name, value in charts.environment(workload, manifests).items()}
    return config.Settings(_env_file=None, **{k: v for k, v in env.items() if k in config.Settings.model_fields and isinstance(v, str)})


def test_the_supervisor_points_cloudflared_at_the_gateways_tunnel_door_through_their_service() -> None:
    manifests = _render(enabled=True, publicUrl=PUBLIC_URL, token={"value": TOKEN})
    gateway = _settings(charts.find(manifests, "Deployment", "gateway"), manifests)
    pointed_at = state.origin(_settings(charts.find(manifests, "Deployment", "tunnel"), manifests))
    assert state.origin(gateway) == pointed_at  # what GET /v1/tunnel shows is where cloudflared goes
    origin = urllib.parse.urlsplit(pointed_at)
    service = charts.find(manifests, "Service", "gateway")
    [door] = [p for p in service["spec"]["ports"] if p["port"] == origin.port]
    [container_port] = [p for p in charts.container(charts.find(manifests, "Deployment", "gateway"))["ports"] if p["name"] == door["targetPort"]]
    assert (origin.scheme, origin.hostname, door["name"]) == ("http", "gateway", "tunnel")
    assert container_port["containerPort"] == gateway.tunnel_origin_port == 8081 and gateway.tunnel_origin_host == "0.0.0.0"
    assert gateway.port != gateway.tunnel_origin_port  # never the API's port


def test_only_the_tunnel_pods_may_reach_the_gateways_tunnel_door() -> None:
    manifests = _render(enabled=True, publicUrl=PUBLIC_URL, token={"value": TOKEN})
    policy = charts.find(manifests, "NetworkPolicy", "gateway-tunnel-door")
    k8s.validate(policy, k8s.latest_version(), strict=True)
    gateway, tunnel = (charts.find(manifests, "Deployment", name) for name in ("gateway", "tunnel"))
    assert policy["spec"]["podSelector"]["matchLabels"] == gateway["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    api, door = policy["spec"]["ingress"]
    assert api == {"ports": [{"port": "http", "protocol": "TCP"}]}  # open to all, as without the policy
    assert door == {"from": [{"podSelector": {"matchLabels": tunnel["spec"]["selector"]["matchLabels"]}}], "ports": [{"port": "tunnel", "protocol": "TCP"}]}
    assert {p["name"] for p in charts.container(gateway)["ports"]} == {"http", "tunnel"}  # nothing else the policy would shut


def test_without_the_tunnel_no_gateway_opens_a_door() -> None:
    manifests = charts.rendered("soma-stack", "dev")
    assert charts.find(manifests, "ConfigMap", "soma")["data"]["SOMA_TUNNEL_ORIGIN_PORT"] == "0"
    assert [p["name"] for p in charts.find(manifests, "Service", "gateway")["spec"]["ports"]] == ["http"]
    assert [m for m in manifests if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "gateway-tunnel-door"] == []
    without_policy = _render(enabled=True, publicUrl=PUBLIC_URL, token={"value": TOKEN}, networkPolicy=False)
    assert [m["metadata"]["name"] for m in without_policy if m["kind"] == "NetworkPolicy"] == ["sandbox"]
