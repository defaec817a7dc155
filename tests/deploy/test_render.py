"""Both charts lint clean and render objects Kubernetes accepts, for the dev and the prod example values."""

from __future__ import annotations

import json
import re

import helm_python as helm
import pytest
from kubernetes_validate import utils as k8s

from tests.deploy import charts

# The newest Kubernetes whose schemas kubernetes-validate ships.
KUBERNETES = k8s.latest_version()
# Custom resources have no schema in kubernetes-validate: the Prometheus Operator's CRDs are
# skipped here on purpose (test_prometheus_operator_monitors_are_the_only_unvalidated_objects).
CRD_GROUPS = ("monitoring.coreos.com/",)

CASES = [(chart, env) for chart in charts.CHARTS for env in charts.ENVIRONMENTS]


def test_the_kubernetes_schemas_are_current() -> None:
    assert tuple(int(p) for p in KUBERNETES.split(".")[:2]) >= (1, 34)


@pytest.mark.parametrize(("chart", "env"), CASES)
def test_chart_lints_without_warnings(chart: str, env: str) -> None:
    _, namespace = charts.ENVIRONMENTS[env]
    report = helm.lint(
        charts.chart_dir(chart), charts.values(env), strict=True, namespace=namespace, kube_version=f"v{KUBERNETES}"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert (problems, report["errors"]) == ([], [])


@pytest.mark.parametrize(("chart", "env"), CASES)
def test_every_rendered_object_is_valid_kubernetes(chart: str, env: str) -> None:
    invalid = []
    for manifest in charts.rendered(chart, env):
        if manifest["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            k8s.validate(manifest, KUBERNETES, strict=True)
        except k8s.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            invalid.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {path}: {exc.message}")
        except k8s.SchemaNotFoundError as exc:
            invalid.append(exc.message)
    assert invalid == []


def test_prometheus_operator_monitors_are_the_only_unvalidated_objects() -> None:
    skipped = {
        (m["kind"], m["metadata"]["name"])
        for chart, env in CASES
        for m in charts.rendered(chart, env)
        if m["apiVersion"].startswith(CRD_GROUPS)
    }
    assert skipped == {("ServiceMonitor", "gateway"), ("PodMonitor", "conversation-worker")}


@pytest.mark.parametrize(
    ("chart", "typo", "message"),
    [
        ("soma-stack", {"worker": {"drainSecond": 30}}, "additional properties 'drainSecond' not allowed"),
        ("soma-stack", {"gatway": {"replicas": 2}}, "additional properties 'gatway' not allowed"),
        ("soma-infra", {"postgresql": {"enabeld": False}}, "additional properties 'enabeld' not allowed"),
    ],
)
def test_a_misspelt_value_fails_the_render(chart: str, typo: dict, message: str) -> None:
    chart_values = charts.values("dev")
    for key, value in typo.items():
        chart_values.setdefault(key, {}).update(value)
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        charts.render_values(chart, chart_values, "soma")


def test_both_schemas_accept_the_same_top_level_keys() -> None:
    """One values file feeds both charts, so each schema must let the other chart's keys through."""
    keys = [
        set(json.loads((charts.chart_dir(chart) / "values.schema.json").read_text())["properties"])
        for chart in charts.CHARTS
    ]
    assert keys[0] == keys[1]


@pytest.mark.parametrize("chart", charts.CHARTS)
def test_every_value_is_documented(chart: str) -> None:
    """Each key that carries a value has a comment line right above it."""
    lines = (charts.chart_dir(chart) / "values.yaml").read_text().splitlines()
    undocumented = []
    for number, line in enumerate(lines):
        if re.match(r"^\s*[\w.-]+:\s*\S", line) and not line.strip().startswith("#"):
            above = next((lines[i].strip() for i in range(number - 1, -1, -1) if lines[i].strip()), "")
            if not above.startswith("#"):
                undocumented.append(f"values.yaml:{number + 1}: {line.strip()}")
    assert undocumented == []


def test_the_stack_refuses_to_render_without_a_database_password() -> None:
    chart_values = charts.values("dev")
    chart_values["database"]["password"] = {"existingSecret": "", "value": ""}
    with pytest.raises(helm.HelmRenderError, match=re.escape("set database.password.existingSecret")):
        charts.render_values("soma-stack", chart_values, "soma")
