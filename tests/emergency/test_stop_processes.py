"""The emergency stop against a real gateway and worker: a streaming turn is cancelled, a queued one waits for the lift."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psycopg

from tests import procs

# About 16 s of streaming: still running when a `soma emergency-stop` started on a loaded machine
# reaches its turns step (the stop cancels it, so the test never waits that long).
SLOW_ANSWER = {"chunks": [f"word{n} " for n in range(40)], "delay": 0.4}


def _rows(database_url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


def _follow(client: httpx.Client, url: str, ended: list[float]) -> None:
    """Read a stream to its end, noting when the server closed it."""
    with client.stream("GET", url, timeout=60) as response:
        assert response.status_code == 200
        for _ in response.iter_lines():
            pass
    ended.append(time.monotonic())


def test_a_stop_cancels_the_running_turn_closes_streams_keeps_the_queued_turn_and_the_lift_runs_it(stack, tmp_path: Path) -> None:
    stack.worker()
    session = stack.new_session()
    ended: list[float] = []
    reading = threading.Thread(target=_follow, args=(stack.client, f"{stack.url}/v1/sessions/{session}/events?after=0", ended))
    reading.start()
    stack.slm.script(SLOW_ANSWER)
    first = stack.send(session, "first")["id"]
    procs.wait_until(lambda: _rows(stack.database_url, "SELECT 1 FROM session_events WHERE type = 'assistant.delta'"), 30, "the turn to stream")
    second = stack.send(session, "second")["id"]  # waits behind the first: one turn per session at a time

    done = procs.run_soma(stack.env(data_dir=tmp_path, log_level="WARNING"), "emergency-stop", "--reason", "drill", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 running turns cancelled (recorded as failed, reason lockdown)" in done.stdout
    reading.join(5)
    assert not reading.is_alive() and ended  # the server closed the stream
    locked = stack.client.get(stack.url + "/v1/sessions")
    assert (locked.status_code, locked.json()["error"]["code"]) == (503, "lockdown")
    ready = httpx.get(stack.url + "/ready")
    assert (ready.status_code, ready.json()["lockdown"]) == (503, True)
    failed = _rows(stack.database_url, "SELECT data->>'reply_to', data->>'reason' FROM session_events WHERE type = 'turn.failed'")
    assert failed == [(str(first), "lockdown")]

    queued = "SELECT status::text, attempts > 0 FROM procrastinate_jobs WHERE args->>'message_id' = %s"
    refused = lambda: _rows(stack.database_url, queued, str(second)) == [("todo", True)]  # noqa: E731
    procs.wait_until(refused, 10, "the worker to refuse the queued turn and put it back")
    assert _rows(stack.database_url, "SELECT count(*) FROM messages WHERE role = 'assistant'") == [(0,)]

    lifted = procs.run_soma(stack.env(data_dir=tmp_path, log_level="WARNING"), "emergency-stop", "--lift", "--reason", "drill over")

    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    assert "1 queued turns run now, in order" in lifted.stdout
    answered = "SELECT reply_to FROM messages WHERE role = 'assistant'"
    procs.wait_until(lambda: _rows(stack.database_url, answered), 15, "the queued turn to run after the lift")
    assert _rows(stack.database_url, answered) == [(second,)]
    users = _rows(stack.database_url, "SELECT id, content FROM messages WHERE role = 'user' ORDER BY id")
    assert users == [(first, "first"), (second, "second")]  # nothing lost
    assert stack.client.get(stack.url + "/v1/sessions").status_code == 401  # the lift does not bring the revoked keys back
