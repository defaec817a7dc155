"""The Soma dashboard queries exactly the metrics the application exports."""

from __future__ import annotations

import json
import re

from tests.deploy import charts

DASHBOARD = charts.chart_dir("soma-infra") / "dashboards" / "soma.json"

# Every metric the dashboard reads: the application must export each of these names.
DASHBOARD_METRICS = {
    "soma_http_requests_total",
    "soma_http_request_duration_seconds_bucket",
    "soma_turns_total",
    "soma_turn_duration_seconds_bucket",
    "soma_queue_depth",
    "soma_queue_oldest_age_seconds",
    "soma_slm_calls_total",
    "soma_slm_time_to_first_token_seconds_bucket",
    "soma_sse_streams_open",
}

# PromQL words that look like names but are not metrics.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not its functions, labels or keywords)."""
    bare = _GROUPINGS.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub(" ", expr))))
    names = set()
    for match in _NAME.finditer(bare):
        if bare[match.end() :].lstrip().startswith("(") or match.group() in _KEYWORDS:
            continue  # a function or an aggregation
        names.add(match.group())
    return names


def dashboard_exprs() -> list[str]:
    """The `expr` of every target of every panel (rows' nested panels included)."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = list(dashboard["panels"])
    for panel in dashboard["panels"]:
        panels.extend(panel.get("panels", []))
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def dashboard_metric_names() -> set[str]:
    """Every metric name the Soma dashboard's panels query."""
    return set().union(*(metric_names(expr) for expr in dashboard_exprs()))


def test_metric_names_are_read_from_promql() -> None:
    expr = 'histogram_quantile(0.95, sum(rate(a_bucket{x=~"5.."}[5m])) by (le, route)) / sum(b) without (c)'
    assert metric_names(expr) == {"a_bucket", "b"}


def test_the_dashboard_queries_exactly_the_exported_metrics() -> None:
    assert dashboard_metric_names() == DASHBOARD_METRICS


def test_every_panel_queries_the_provisioned_prometheus_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = {json.dumps(t["datasource"]) for p in dashboard["panels"] for t in p["targets"]}
    assert datasources == {json.dumps({"type": "prometheus", "uid": "prometheus"})}
    provisioning = charts.find(charts.rendered("soma-infra", "dev"), "ConfigMap", "soma-infra-grafana-provisioning")
    assert "uid: prometheus" in provisioning["data"]["datasources.yaml"]


def test_grafana_loads_the_dashboard_file_unchanged() -> None:
    configmap = charts.find(charts.rendered("soma-infra", "dev"), "ConfigMap", "soma-infra-grafana-dashboards")
    assert json.loads(configmap["data"]["soma.json"]) == json.loads(DASHBOARD.read_text())
