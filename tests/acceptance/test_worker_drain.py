"""A draining worker keeps its turns: SIGTERM with a drain longer than any stalled threshold, and the SLM is asked once per turn.

The SLM holds every answer after its first chunk, so the turns are still running when the worker
gets SIGTERM; a second worker, started then, would queue them again if the draining one looked dead.
The test waits until the draining worker's heartbeat has gone on well past the other's stalled
threshold (the other's recovery loop looks every heartbeat), then lets the answers finish.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta

import psycopg

from tests import procs
from tests.procs import wait_until

TURNS = 3
HELD = {"chunks": ["held ", "answer"], "hold_after": 1}
DRAIN_SECONDS = 120  # far longer than any threshold below: only a drain that keeps its turns passes
HEARTBEAT_SECONDS = 1  # the stack's SOMA_WORKER_HEARTBEAT_SECONDS


def _query(database_url: str, sql: str, *args: object) -> list[tuple]:
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        return conn.execute(sql, args).fetchall()


def _heartbeat(database_url: str, worker_id: int) -> datetime | None:
    rows = _query(database_url, "SELECT last_heartbeat FROM procrastinate_workers WHERE id = %s", worker_id)
    return rows[0][0] if rows else None


def _questions_asked(stack) -> list[str]:
    """The last user message of each chat request the SLM received, in order."""
    return [request["body"]["messages"][-1]["content"] for request in stack.slm.requests()]


def _drain_beside(stack, other_settings: dict[str, object], other_threshold: float) -> procs.Proc:
    """Turns held in one worker, another started beside it, SIGTERM the first: every turn asked and answered once.

    Returns the other worker."""
    stack.slm.script(default=HELD)
    # A held answer is a silent SLM: the read timeout must outlast the hold, or the turns fail instead.
    draining = stack.worker(worker_drain_seconds=DRAIN_SECONDS, worker_concurrency=TURNS, slm_read_timeout=DRAIN_SECONDS)
    questions = [f"question {i}" for i in range(TURNS)]
    sessions = [stack.new_session() for _ in questions]
    for session, question in zip(sessions, questions, strict=True):
        stack.send(session, question)
    wait_until(lambda: len(stack.slm.requests()) == TURNS, 60, "every turn to reach the SLM")
    [(worker_id,)] = _query(stack.database_url, "SELECT DISTINCT worker_id FROM procrastinate_jobs WHERE status = 'doing'")
    other = stack.worker(**other_settings)

    draining.signal(signal.SIGTERM)
    [(signalled_at,)] = _query(stack.database_url, "SELECT now()")
    wait_until(lambda: "draining: no more jobs taken" in draining.output(), 30, "the drain to begin")
    # Past the other worker's threshold by two of its recovery rounds, the draining one still beats.
    late = signalled_at + timedelta(seconds=other_threshold + 2 * HEARTBEAT_SECONDS)
    wait_until(lambda: (_heartbeat(stack.database_url, worker_id) or late) > late, 60, "the draining worker's heartbeat to go on")
    assert draining.alive(), draining.output()
    stack.slm.release()

    assert draining.wait(60) == 0, draining.output()
    assert _heartbeat(stack.database_url, worker_id) is None  # unregistered once its last turn ended
    answers = {session: [m["content"] for m in stack.messages(session) if m["role"] == "assistant"] for session in sessions}
    assert answers == {session: ["held answer"] for session in sessions}
    assert sorted(_questions_asked(stack)) == questions
    assert "queued again" not in other.output() + draining.output()
    assert other.alive(), other.output()
    return other


def test_a_draining_worker_keeps_its_turns_although_another_worker_counts_silence_as_death_sooner(stack) -> None:
    # The other worker's own drain is short, so its threshold (3 s + 3 heartbeats) is far below the
    # draining worker's drain: only the draining worker's heartbeat keeps its turns.
    other = {"worker_drain_seconds": 3, "worker_stalled_seconds": 1}
    beside = _drain_beside(stack, other, other_threshold=3 + 3 * HEARTBEAT_SECONDS)
    raised = "SOMA_WORKER_STALLED_SECONDS=1 is shorter than SOMA_WORKER_DRAIN_SECONDS=3 plus 3 heartbeats of 1s: "
    assert raised + "a silent worker counts as dead after 6s instead" in beside.output()


def test_a_drain_longer_than_the_stalled_setting_asks_the_slm_once_per_turn(stack) -> None:
    # The chart's old mistake in small: SOMA_WORKER_STALLED_SECONDS (2 s) far below SOMA_WORKER_DRAIN_SECONDS.
    other = {"worker_drain_seconds": DRAIN_SECONDS, "worker_stalled_seconds": 2}
    _drain_beside(stack, other, other_threshold=2)
