"""Metrics and logs of real `soma gateway` and `soma worker` processes."""

from __future__ import annotations

import json
import socket

import httpx
import psycopg
from prometheus_client import CONTENT_TYPE_LATEST

from tests import procs
from tests.conftest import ADMIN
from tests.observability.scrape import Scrape
from tests.procs import has_event


def _scrape(base_url: str) -> Scrape:
    response = httpx.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return Scrape(response.text)


def test_a_worker_serves_metrics_that_count_its_turns_slm_calls_and_queue(stack) -> None:
    port = procs.free_port()
    stack.worker(worker_metrics_port=port)
    base = f"http://127.0.0.1:{port}"
    health = httpx.get(base + "/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    stack.slm.script({"chunks": ["One", " moment", "."], "delay": 0.7})
    session = stack.new_session()

    stack.send(session, "first")
    stack.events(session, has_event("turn.started"))
    stack.send(session, "second")  # waits behind the first: one turn at a time per session
    waiting = _scrape(base)
    stack.events(session, has_event("assistant.message", 2))
    done = procs.wait_until(lambda: _counted(_scrape(base), 2), 10, "both turns to be counted")

    assert waiting.value("soma_queue_depth", queue="turns") == 1
    assert 0 <= waiting.value("soma_queue_oldest_age_seconds", queue="turns") < 10
    assert waiting.value("soma_queue_depth", queue="knowledge") == 0
    assert done.value("soma_turns_total", outcome="completed") == 2
    assert done.value("soma_turns_total", outcome="failed") == 0
    assert done.value("soma_turn_duration_seconds_count", outcome="completed") == 2
    assert done.value("soma_slm_calls_total", outcome="ok") == 2
    assert done.value("soma_slm_calls_total", outcome="slm_unavailable") == 0
    assert done.value("soma_slm_time_to_first_token_seconds_count") == 2
    assert done.value("soma_slm_tokens_total", kind="completion") == 3 + 5  # scripted pieces, then the default five


def test_a_worker_whose_metrics_port_is_taken_warns_and_runs_turns(stack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = stack.worker(worker_metrics_port=port)
        session = stack.new_session()
        stack.send(session, "still there?")
        stack.events(session, has_event("assistant.message"))

    assert (
        f"worker metrics not served: cannot listen on 127.0.0.1:{port} (Address already in use). "
        "Set SOMA_WORKER_METRICS_PORT to a free port, or 0." in worker.output()
    )


def _counted(scrape: Scrape, turns: int) -> Scrape | None:
    return scrape if scrape.value("soma_turns_total", outcome="completed") == turns else None


def test_the_gateway_counts_its_open_event_streams(stack) -> None:
    session = stack.new_session()
    assert _scrape(stack.url).value("soma_sse_streams_open") == 0

    with httpx.Client(timeout=30, headers=ADMIN) as client:
        with client.stream("GET", f"{stack.url}/v1/sessions/{session}/events") as response:
            lines = response.iter_lines()  # kept: a dropped iterator closes the connection
            assert next(lines) == "retry: 1000"
            assert _scrape(stack.url).value("soma_sse_streams_open") == 1

    # The gateway notices the client left at its next keep-alive (1s here).
    procs.wait_until(lambda: _scrape(stack.url).value("soma_sse_streams_open") == 0, 10, "the stream to close")


def test_json_logs_follow_one_message_from_its_request_to_its_turn(stack) -> None:
    url, gateway = stack.gateway(log_format="json")
    worker = stack.worker(log_format="json")
    session = stack.client.post(url + "/v1/sessions", json={}).json()["id"]

    response = stack.client.post(f"{url}/v1/sessions/{session}/messages", json={"content": "Trace me"})
    request_id = response.headers["X-Request-ID"]
    procs.read_events(stack.client, f"{url}/v1/sessions/{session}/events", has_event("assistant.message"))
    procs.wait_until(lambda: request_id in worker.output(), 10, "the worker to log the turn")
    gateway.stop()
    worker.stop()

    gateway_lines, worker_lines = _json_lines(gateway.output()), _json_lines(worker.output())
    turn = [line for line in worker_lines if line.get("request_id") == request_id]
    assert [(t["logger"], t["session_id"], t["outcome"]) for t in turn] == [("soma.worker.tasks", session, "completed")]
    assert turn[0]["message"].startswith(f"turn for message {response.json()['id']}: completed in ")
    posted = [line for line in gateway_lines if line.get("request_id") == request_id]
    assert [(p["logger"], p["session_id"], p["route"], p["status"]) for p in posted] == [
        ("soma.access", session, "/v1/sessions/{session_id}/messages", 202)
    ]
    assert any(line["logger"] == "uvicorn.error" for line in gateway_lines)  # uvicorn's own lines are JSON too
    assert any(line["message"] == "worker stopped" for line in worker_lines)


def _json_lines(output: str) -> list[dict]:
    """Every line of a process's output as JSON, each with the fields every line has."""
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= set(line), line
    return lines


def test_a_turn_job_queued_without_a_request_id_still_runs(stack) -> None:
    session = stack.new_session()
    user = stack.send(session, "queued by an older gateway")
    with psycopg.connect(stack.database_url) as conn:  # the job as gateways before request ids queued it
        conn.execute("UPDATE procrastinate_jobs SET args = args - 'request_id'")

    worker = stack.worker()
    events = stack.events(session, has_event("assistant.message"))

    assert events[-1]["data"]["message"]["reply_to"] == user["id"]
    procs.wait_until(lambda: "turn for message" in worker.output(), 10, "the worker to log the turn")
    line = next(line for line in worker.output().splitlines() if "turn for message" in line)
    assert line.endswith(f"[session_id={session}]")
