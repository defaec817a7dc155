"""Scheduled tasks: the delay from a task's due time to its turn, with 1,000 tasks due at the same second, on one worker and on three.

Run from the repository root:

    .venv/bin/python -m bench.schedule [--tasks 1000] [--workers 1,3] [--concurrency 64]

Everything runs as real processes on 127.0.0.1, started and stopped by this script: an embedded
PostgreSQL in a temporary directory, tests/scripted_slm.py (an instant one-word answer) and
`soma worker` processes. For each worker count, the tasks are stored (one owner, an admin user)
with a daily six-field cron that falls on one second about 15 s ahead, so all are due at once,
and the workers are left to run them.

"queued"  task_runs.started_at - due_at: the scheduler's share, from the due time until the run is
          recorded with its chat, its user message and its turn job (launch.py sets started_at
          just before the batch commits). The goal is p99 <= 1 s with 1,000 tasks.
"turn"    the run's `turn.started` event - due_at: queued, then waiting for a free worker slot, so
          with 1,000 turns at once it is mostly the workers' throughput, not the scheduler's.

This prints figures only; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.stack import Stack, running, unwind_on  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

LEAD_SECONDS = 15  # from storing the tasks to their due time: the workers are up and ticking by then
RUN_TIMEOUT = 600.0  # seconds for every run's turn to start

_STORE = """
    INSERT INTO scheduled_tasks (owner, name, prompt, profile, schedule, next_run_at)
    SELECT %s, 'bench ' || n, 'Benchmark: anything new?', NULL, %s::jsonb, %s::timestamptz FROM generate_series(1, %s) AS n
"""
_QUEUED = "SELECT extract(epoch FROM started_at - due_at) FROM task_runs WHERE due_at = %s AND started_at IS NOT NULL AND message_id IS NOT NULL"
_TURNS = """
    SELECT extract(epoch FROM min(e.created_at) - r.due_at)
      FROM task_runs r JOIN session_events e ON e.session_id = r.session_id AND e.type = 'turn.started'
     WHERE r.due_at = %s GROUP BY r.id, r.due_at
"""


def one_round(stack: Stack, env: dict[str, str], owner: str, tasks: int, workers: int) -> dict[str, list[float]]:
    """Store `tasks` due together, start `workers`, and return the delays of their runs (seconds)."""
    stack.sql("DELETE FROM scheduled_tasks")
    stack.sql("DELETE FROM chat_sessions")
    started = stack.start_workers(env, workers)
    try:
        [(due,)] = stack.sql(f"SELECT date_trunc('second', clock_timestamp()) + interval '{LEAD_SECONDS} seconds'")
        schedule = {"cron": f"{due.minute} {due.hour} * * * {due.second}", "timezone": "UTC"}  # daily, at that second
        stack.sql(_STORE, owner, json.dumps(schedule), due, tasks)
        procs.wait_until(lambda: len(stack.sql(_TURNS, due)) >= tasks, RUN_TIMEOUT, f"{tasks} turns to start", interval=0.5)
        return {"queued": [float(r[0]) for r in stack.sql(_QUEUED, due)], "turn": [float(r[0]) for r in stack.sql(_TURNS, due)]}
    finally:
        for worker in started:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", default="1,3", help="worker counts to measure, comma-separated")
    parser.add_argument("--concurrency", type=int, default=64, help="SOMA_WORKER_CONCURRENCY of each worker")
    args = parser.parse_args()
    unwind_on(signal.SIGTERM, signal.SIGINT)
    with running("soma-bench-schedule-") as stack:
        stack.start_database()
        slm = stack.start_slm({"chunks": ["ok"], "delay": 0.0})
        [(user_id,)] = stack.sql("INSERT INTO users (username, password_hash, role) VALUES ('bench', 'x', 'admin') RETURNING id")
        env = stack.soma_env(slm, worker_concurrency=args.concurrency, worker_metrics_port=0)
        table = stats.Table(
            ("workers", ">7", "d"), ("runs", ">7", "d"),
            ("queued p50", ">12", ".3f"), ("queued p99", ">12", ".3f"), ("queued max", ">12", ".3f"),
            ("turn p50", ">10", ".2f"), ("turn p99", ">10", ".2f"), ("turn max", ">10", ".2f"),
        )  # fmt: skip
        print(f"delay from due time, seconds; {args.tasks} tasks due at one second; worker concurrency {args.concurrency}")
        print(table.heading())
        for workers in (int(n) for n in args.workers.split(",")):
            began = time.monotonic()
            delays = one_round(stack, env, f"user:{user_id}", args.tasks, workers)
            queued, turn = delays["queued"], delays["turn"]
            print(table.row(
                workers, len(queued), stats.percentile(queued, 50), stats.percentile(queued, 99), max(queued),
                stats.percentile(turn, 50), stats.percentile(turn, 99), max(turn),
            ))  # fmt: skip
            print(f"  (round took {time.monotonic() - began:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
