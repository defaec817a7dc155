"""Runbook 2 simulated with processes: `kubectl rollout restart deploy/conversation-worker` under load.

A rollout sends SIGTERM to an old pod and starts its replacement; every turn in flight must
get exactly one reply, whether it finished during the drain or was cut off and run again. The SLM
counts what it was asked: a turn that finished within the drain was asked once; only a turn the
drain's deadline cut off is asked again (once), and only the draining worker's turns are.
"""

from __future__ import annotations

import signal
from collections import Counter

import psycopg

from tests.procs import wait_until

TURNS = 50
WORKER_CONCURRENCY = 8
STEADY = {"chunks": [f"w{i} " for i in range(8)], "delay": 0.1}  # about 0.8 s per turn
TEXT = "".join(f"w{i} " for i in range(8))


def _replies(database_url: str) -> dict[str, list[str]]:
    """Each session's assistant replies."""
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT s.id::text, m.content FROM chat_sessions s LEFT JOIN messages m"
            " ON m.session_id = s.id AND m.role = 'assistant'"
        ).fetchall()
    replies: dict[str, list[str]] = {}
    for session, content in rows:
        replies.setdefault(session, [])
        if content is not None:
            replies[session].append(content)
    return replies


def _jobs(database_url: str) -> dict[str, int]:
    """How many turn jobs are running (`doing`) and waiting (`todo`)."""
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status").fetchall()
    return {"doing": 0, "todo": 0} | dict(rows)


def _rollout(stack, drain_seconds: float, asked_again_at_most: int) -> None:
    stack.slm.script(default=STEADY)
    questions = [f"Work through the queue, part {i}" for i in range(TURNS)]
    for question in questions:  # queued first, so the load is there however slow this machine is
        stack.send(stack.new_session(), question)
    # Eight at a time per worker, so the queue lasts for seconds, and both started together: on a
    # loaded machine a worker takes seconds to start, and one started after the other was ready
    # found the queue already answered.
    old, _ = stack.workers(2, worker_drain_seconds=drain_seconds, worker_concurrency=WORKER_CONCURRENCY)
    # Turns running and more waiting, as a rollout meets them; on a loaded machine fewer run at once.
    seen: list[dict[str, int]] = []
    try:
        wait_until(lambda: (seen.append(_jobs(stack.database_url)) or seen[-1]["doing"] >= 4 and seen[-1]["todo"] > 0), 30,
                   "turns to be in flight")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the last counts seen: {seen[-3:]}") from None

    old.signal(signal.SIGTERM)
    stack.worker(worker_drain_seconds=drain_seconds, worker_concurrency=WORKER_CONCURRENCY)  # the replacement pod
    assert old.wait(drain_seconds + 30) == 0

    wait_until(lambda: all(_replies(stack.database_url).values()), 120, "every turn to be answered", interval=0.5)
    stack.wait_no_job_left()  # a duplicate answer would be stored by now
    replies = _replies(stack.database_url)
    assert len(replies) == TURNS
    assert all(answers == [TEXT] for answers in replies.values()), replies
    asked = Counter(request["body"]["messages"][-1]["content"] for request in stack.slm.requests())
    assert set(asked) == set(questions)
    asked_again = sorted(question for question, times in asked.items() if times > 1)
    assert max(asked.values()) <= 2 and len(asked_again) <= asked_again_at_most, asked_again


def test_a_rolling_restart_with_a_long_drain_asks_and_answers_every_turn_exactly_once(stack) -> None:
    _rollout(stack, drain_seconds=25, asked_again_at_most=0)


def test_a_rolling_restart_that_cuts_turns_off_asks_again_only_those_and_answers_every_turn_exactly_once(stack) -> None:
    # Turns still running at the deadline are cancelled and run again: at most the draining worker's.
    _rollout(stack, drain_seconds=0.2, asked_again_at_most=WORKER_CONCURRENCY)

