"""The Helm charts rendered offline, as `helm template` would: Helm's Go SDK through helm-python-sdk, no cluster."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "infra" / "helm"
CHARTS = ("soma-infra", "soma-stack")
# The values files the runbooks pass to both charts, and the namespace each is installed in.
ENVIRONMENTS = {
    "dev": (HELM_DIR / "values-dev.yaml", "soma"),
    "prod": (HELM_DIR / "values-prod.example.yaml", "soma-prod"),
}

Manifest = dict[str, Any]


def chart_dir(chart: str) -> Path:
    """The chart's directory."""
    return HELM_DIR / chart


def values(env: str) -> dict[str, Any]:
    """The values file of an environment, parsed."""
    return yaml.safe_load(ENVIRONMENTS[env][0].read_text())


def render_values(chart: str, chart_values: dict[str, Any], namespace: str) -> list[Manifest]:
    """Every object the chart installs, hooks included, for a release named like the chart (as the runbook does)."""
    with helm.Chart.load(chart_dir(chart)) as loaded:
        files = loaded.render(chart_values, name=chart, namespace=namespace, is_install=True)
    manifests = []
    for path, text in sorted(files.items()):
        if path.endswith(".yaml"):
            manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


@functools.cache
def _rendered(chart: str, env: str) -> list[Manifest]:
    _, namespace = ENVIRONMENTS[env]
    return render_values(chart, values(env), namespace)


def rendered(chart: str, env: str) -> list[Manifest]:
    """The chart rendered with an environment's values file (a copy: tests may not share edits)."""
    return copy.deepcopy(_rendered(chart, env))


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one object of this kind and name."""
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)} in {[(m['kind'], m['metadata']['name']) for m in manifests]}"
    return found[0]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    """The pod spec of a Deployment, StatefulSet or Job."""
    return workload["spec"]["template"]["spec"]


def container(workload: Manifest) -> dict[str, Any]:
    """The workload's single container."""
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, [c["name"] for c in containers]
    return containers[0]


def environment(workload: Manifest, manifests: list[Manifest]) -> dict[str, Any]:
    """The container's environment as the kubelet builds it: envFrom ConfigMaps, then env (value or valueFrom)."""
    spec = container(workload)
    env: dict[str, Any] = {}
    for source in spec.get("envFrom", []):
        env.update(find(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in spec.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env
