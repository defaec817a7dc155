"""X-Request-ID in-process: given to every response, honoured when sane, and carried into the turn's job."""

from __future__ import annotations

import re

import psycopg
import pytest

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_every_response_carries_its_own_request_id(api) -> None:
    first = await api.get("/v1/sessions")
    second = await api.get("/no/such/path")

    assert GENERATED.fullmatch(first.headers["X-Request-ID"])
    assert GENERATED.fullmatch(second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_a_sane_incoming_request_id_is_kept(api) -> None:
    response = await api.get("/health", headers={"X-Request-ID": "edge-7f3a:01/2=+_.x"})
    assert response.headers["X-Request-ID"] == "edge-7f3a:01/2=+_.x"


@pytest.mark.parametrize("incoming", ["two words", "x" * 129, "quote\"d", ""])
async def test_an_incoming_request_id_that_could_break_a_log_line_is_replaced(api, incoming: str) -> None:
    response = await api.get("/health", headers={"X-Request-ID": incoming})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])


async def test_the_request_id_of_a_posted_message_travels_in_its_turn_job(api, database_url) -> None:
    session = (await api.post("/v1/sessions")).json()

    response = await api.post(
        f"/v1/sessions/{session['id']}/messages", json={"content": "hello"}, headers={"X-Request-ID": "trace-42"}
    )

    assert response.status_code == 202 and response.headers["X-Request-ID"] == "trace-42"
    with psycopg.connect(database_url) as conn:
        (args,) = conn.execute("SELECT args FROM procrastinate_jobs").fetchone()
    assert args == {"session_id": session["id"], "message_id": response.json()["id"], "request_id": "trace-42"}
