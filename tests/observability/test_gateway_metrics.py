"""GET /metrics on the gateway in-process: the format, every metric name, and requests counted by route template."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

import soma
from tests.observability.scrape import SOMA_SAMPLES, Scrape

REQUESTS = "soma_http_requests_total"


async def _scrape(api) -> Scrape:
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return Scrape(response.text)


async def test_metrics_parse_and_name_every_soma_metric_in_its_prometheus_form(api) -> None:
    await api.get("/v1/sessions")

    scrape = await _scrape(api)

    for family, samples in SOMA_SAMPLES.items():
        assert family in scrape.families, family
        assert scrape.sample_names(family) == set(samples), family
    assert scrape.families["soma_http_requests"].type == "counter"
    assert scrape.families["soma_http_request_duration_seconds"].type == "histogram"
    assert scrape.families["soma_queue_depth"].type == "gauge"
    assert scrape.label_values("soma_queue_depth", "queue") == {"turns", "knowledge"}
    assert scrape.value("soma_build_info", version=soma.__version__, python=_python()) == 1


async def test_five_session_lists_count_exactly_five_under_their_route(api) -> None:
    before = await _scrape(api)

    for _ in range(5):
        assert (await api.get("/v1/sessions")).status_code == 200

    after = await _scrape(api)
    labels = {"route": "/v1/sessions", "method": "GET", "status": "200"}
    assert after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels) == 5
    count = "soma_http_request_duration_seconds_count"
    assert after.value(count, **labels) - before.value(count, **labels) == 5


async def test_a_session_path_counts_under_its_template_never_the_raw_path(api) -> None:
    session_id = str(uuid.uuid4())
    labels = {"route": "/v1/sessions/{session_id}", "method": "GET", "status": "404"}
    before = await _scrape(api)

    assert (await api.get(f"/v1/sessions/{session_id}")).status_code == 404

    after = await _scrape(api)
    assert after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels) == 1
    assert not [key for key in after.samples if session_id in str(key)]


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("GET", "/no/such/path", "unmatched", "404"),
        ("GET", "/static/style.css", "/static", "200"),
        ("GET", "/static/nothing-here.css", "/static", "404"),
        ("POST", "/health", "/health", "405"),
        ("GET", "/", "/", "200"),
    ],
)
async def test_unmatched_static_and_wrong_method_requests_get_bounded_route_labels(
    api, method: str, path: str, route: str, status: str
) -> None:
    labels = {"route": route, "method": method, "status": status}
    before = await _scrape(api)

    response = await api.request(method, path)

    assert response.status_code == int(status)
    after = await _scrape(api)
    assert after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels) == 1
    assert path not in after.label_values(REQUESTS, "route") or path == route


async def test_a_body_refused_before_routing_counts_as_unmatched(api) -> None:
    session = (await api.post("/v1/sessions")).json()
    labels = {"route": "unmatched", "method": "POST", "status": "413"}
    before = await _scrape(api)

    response = await api.post(
        f"/v1/sessions/{session['id']}/messages", content=b"x" * 10_000_000, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    after = await _scrape(api)
    assert after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels) == 1


async def test_scrapes_are_counted_like_any_request(api) -> None:
    labels = {"route": "/metrics", "method": "GET", "status": "200"}
    first = await _scrape(api)
    second = await _scrape(api)
    assert second.value(REQUESTS, **labels) - first.value(REQUESTS, **labels) == 1


async def test_metrics_is_not_in_the_openapi_schema(api) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths and "/v1/sessions" in paths


async def test_a_waiting_turn_shows_in_queue_depth_and_age(api) -> None:
    session = (await api.post("/v1/sessions")).json()
    await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "Anyone there?"})

    scrape = await _scrape(api)  # no worker runs here: the turn waits

    assert scrape.value("soma_queue_depth", queue="turns") == 1
    assert scrape.value("soma_queue_depth", queue="knowledge") == 0
    assert 0 <= scrape.value("soma_queue_oldest_age_seconds", queue="turns") < 60
    assert scrape.value("soma_queue_oldest_age_seconds", queue="knowledge") == 0


def _python() -> str:
    import platform

    return platform.python_version()


async def test_a_scrape_answers_without_queue_figures_while_postgresql_is_down(settings) -> None:
    import httpx
    from httpx import ASGITransport

    from soma.gateway import app as gateway_app

    app = gateway_app.create(settings, "postgresql://nobody@127.0.0.1:1/nothing")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=ASGITransport(app=app), base_url="http://soma") as client:
            scrape = await _scrape(client)

    assert not scrape.label_values("soma_queue_depth", "queue")
    assert not scrape.label_values("soma_queue_oldest_age_seconds", "queue")
    assert "soma_turns" in scrape.families
