"""Runbook 5 step 3, `kubectl scale deploy --all --replicas=0 -n soma`, stops Soma and nothing it stands on.

Both charts install into one namespace, so the command reaches soma-infra's objects too: each
infrastructure part is a StatefulSet keeping its data on a volume, which `scale deploy` never
touches, and the Deployments it stops are exactly the application's, which the way back restores.
"""

from __future__ import annotations

import pytest

from tests.deploy import charts

ENVS = list(charts.ENVIRONMENTS)
# What step 3 stops, and the runbook's way back starts again (with the tunnel and the local SLM when enabled).
APPLICATION = {"gateway", "conversation-worker", "slm", "tunnel"}
WORKLOADS = ("Deployment", "StatefulSet")


def _with_everything_on(env: str) -> dict:
    """The environment's values with the optional Deployments on too: the local SLM and the tunnel."""
    values = charts.values(env)
    values["slm"] = {**values["slm"], "local": {**values["slm"].get("local", {}), "enabled": True}}
    values["slm"]["apiKey"] = values["slm"].get("apiKey") or {"value": "k"}
    tunnel = values.get("tunnel", {})
    token = {**tunnel.get("token", {}), "existingSecret": "soma-tunnel-token"}  # prod has no Vault to read it from
    values["tunnel"] = {**tunnel, "enabled": True, "publicUrl": "https://soma.example.org", "token": token}
    return values


@pytest.mark.parametrize("env", ENVS)
def test_every_infrastructure_part_is_a_statefulset_with_its_data_on_a_volume(env: str) -> None:
    workloads = [m for m in charts.rendered("soma-infra", env) if m["kind"] in WORKLOADS]
    assert workloads, "soma-infra runs nothing with these values"
    for workload in workloads:
        name = workload["metadata"]["name"]
        assert workload["kind"] == "StatefulSet", f"{name} would stop with `kubectl scale deploy --all`"
        claims = [claim["metadata"]["name"] for claim in workload["spec"]["volumeClaimTemplates"]]
        mounted = {mount["name"] for mount in charts.container(workload)["volumeMounts"]}
        assert claims == ["data"] and "data" in mounted, name
        assert "data" not in {volume["name"] for volume in charts.pod_spec(workload).get("volumes", [])}, name


def test_the_dev_layout_runs_postgresql_openbao_prometheus_and_grafana_as_statefulsets() -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in charts.rendered("soma-infra", "dev") if m["kind"] in WORKLOADS}
    assert kinds == {("StatefulSet", name) for name in charts.values("dev")["global"]["services"].values()}


@pytest.mark.parametrize("env", ENVS)
def test_the_deployments_in_the_namespace_are_the_application_only(env: str) -> None:
    _, namespace = charts.ENVIRONMENTS[env]
    manifests = charts.rendered("soma-infra", env) + charts.render_values("soma-stack", _with_everything_on(env), namespace)
    deployments = {m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"}
    assert deployments == APPLICATION
    stateful = {m["metadata"]["name"] for m in manifests if m["kind"] == "StatefulSet"}
    assert stateful == {m["metadata"]["name"] for m in charts.rendered("soma-infra", env) if m["kind"] == "StatefulSet"}
