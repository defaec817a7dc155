"""Runbook 5 step 3, `kubectl scale deploy --all --replicas=0 -n soma`, stops Soma and nothing it stands on.

Both charts install into one namespace, so the command reaches soma-infra's objects too: each
infrastructure part is a StatefulSet keeping its data on a volume, which `scale deploy` never
touches, and the Deployments it stops are exactly the application's, which the way back restores.
The runbook's own command lines run against tests/fake_kubectl.py, a namespace in a file: no
cluster runs here, so this drills the commands as written, not Kubernetes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy import charts

ENVS = list(charts.ENVIRONMENTS)
# What step 3 stops, and the runbook's way back starts again (with the sandbox, the tunnel and the local SLM when enabled).
APPLICATION = {"gateway", "conversation-worker", "sandbox", "slm", "tunnel"}
WORKLOADS = ("Deployment", "StatefulSet")
RUNBOOK = charts.ROOT / "docs" / "runbooks" / "emergency-shutdown.md"
FAKE_KUBECTL = charts.ROOT / "tests" / "fake_kubectl.py"


def _with_everything_on(env: str) -> dict:
    """The environment's values with the optional Deployments on too: the sandbox, the local SLM and the tunnel."""
    values = charts.values(env)
    values["sandbox"] = {**values.get("sandbox", {}), "enabled": True}
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


def _runbook_lines(*starts: str) -> str:
    """The runbook's command lines that begin so, in the runbook's order: what an operator pastes."""
    lines = [line for line in RUNBOOK.read_text().splitlines() if line.startswith(starts)]
    assert len(lines) == len(starts), lines
    return "\n".join(lines)


def _run(script: str, namespace: str, state: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "kubectl").unlink(missing_ok=True)
    (bin_dir / "kubectl").symlink_to(FAKE_KUBECTL)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NS": namespace,
           "FAKE_KUBECTL_STATE": str(state), "FAKE_KUBECTL_NAMESPACE": namespace}  # fmt: skip
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("env", ENVS)
def test_runbook_5s_way_back_restores_exactly_what_step_3_stopped(env: str, tmp_path: Path) -> None:
    _, namespace = charts.ENVIRONMENTS[env]
    manifests = charts.rendered("soma-infra", env) + charts.render_values("soma-stack", _with_everything_on(env), namespace)
    installed = {f"{m['kind']}/{m['metadata']['name']}": m["spec"].get("replicas", 1) for m in manifests if m["kind"] in WORKLOADS}
    state = tmp_path / "namespace.json"
    state.write_text(json.dumps(installed))

    _run(_runbook_lines("kubectl get deploy -n $NS -o custom-columns", "kubectl scale deploy --all"), namespace, state, tmp_path)
    stopped = json.loads(state.read_text())
    assert stopped == {key: 0 if key.startswith("Deployment/") else n for key, n in installed.items()}

    _run(_runbook_lines("while read -r name replicas"), namespace, state, tmp_path)
    assert json.loads(state.read_text()) == installed
