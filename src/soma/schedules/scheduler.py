"""The scheduler: due times become runs and turns, each exactly once, on whichever workers run the tick.

Every worker registers `tick` as a procrastinate periodic task (worker/tasks.py), every second.
procrastinate makes one job per second across all workers (procrastinate_periodic_defers is unique
per tick), and the tick claims due tasks with `FOR UPDATE SKIP LOCKED` (launch.py): two ticks that
overlap share the work instead of doubling it. The stored due time drives everything: a run's
`due_at` is the task's `next_run_at`, and the next one follows it on the schedule, not the clock of
the worker that fetched the tick.

procrastinate defers a tick half a second after its second (periodic.MARGIN); so that a due time is
not kept waiting for that, a tick also waits (LOOKAHEAD_SECONDS at most) for the due times that
fall before the next tick, and claims each as it comes.

A due time more than GRACE_SECONDS past when claimed was missed (Soma was down): the task's
`missed` policy applies once, whatever the number of due times missed. `skip` records one `skipped`
run and moves to the next due time after now; `run_once` runs once, marked `late`, and moves on.
A task whose owner may no longer run anything (account disabled, API key revoked) records one
`skipped` run saying why and is paused; its owner, or an admin, resumes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.schedules import launch, outcomes, store, timing

log = logging.getLogger(__name__)

TICK_CRON = "* * * * * *"  # every second (croniter: seconds are the sixth field)
QUEUE = "schedules"
TASK_NAME = "soma.schedules_tick"
LOCK = "soma.schedules_tick"  # queueing lock: one tick waits in the queue at most, however busy the workers
PRIORITY = 10  # a tick is taken before queued turns (priority 0) when a worker slot frees
BATCH = 1000  # tasks claimed per transaction
GRACE_SECONDS = 5.0  # a due time claimed later than this was missed (Soma was down): the task's `missed` policy applies
LOOKAHEAD_SECONDS = 1.0  # a tick waits this long at most for due times before the next tick
IDLE_SECONDS = 0.02  # between looks at due tasks that another tick is claiming
_NEXT_DUE = sa.text(
    "SELECT extract(epoch FROM min(next_run_at) - clock_timestamp()) FROM scheduled_tasks WHERE NOT paused AND next_run_at IS NOT NULL"
)


async def tick(engine: AsyncEngine) -> int:
    """Start every due task's run, then those due before the next tick, each as it comes; how many runs were recorded."""
    began = time.monotonic()
    recorded = 0
    while True:
        while (claimed := await claim_due(engine)) == BATCH:
            recorded += claimed
        recorded += claimed
        async with engine.connect() as conn:
            wait = (await conn.execute(_NEXT_DUE)).scalar_one()
        if wait is None or time.monotonic() - began + float(wait) > LOOKAHEAD_SECONDS:
            return recorded
        # Just past the due time by the database's clock, which the claim reads; a due task that another
        # tick holds (nothing claimed here) is not polled for in a tight loop.
        await asyncio.sleep(max(float(wait), 0.0 if claimed else IDLE_SECONDS) + 0.001)


async def claim_due(engine: AsyncEngine) -> int:
    """One batch: claim up to BATCH due tasks and start their runs, in one transaction; how many were claimed."""
    async with engine.begin() as conn:
        tasks = list(await conn.execute(launch.CLAIM_DUE, {"batch": BATCH}))
        if tasks:
            await _launch(conn, tasks, [_plan(task) for task in tasks])
    return len(tasks)


async def run_now(engine: AsyncEngine, task_id: uuid.UUID, owner: str | None = None) -> int:
    """A run of the task now, outside its schedule (POST /v1/tasks/{id}/run); the run's id."""
    async with engine.begin() as conn:
        await store.exists(conn, task_id, owner)
        [task] = list(await conn.execute(launch.CLAIM_ONE, {"task_id": task_id})) or [None]
        if task is None:
            raise errors.RestoreInProgress()  # the task exists: only the restore gate hides it
        planned = _plan(task, manual=True)
        started = await _launch(conn, [task], [planned])
    return started[task.id]


async def _launch(conn: Any, tasks: list[Any], planned: list[launch.Run]) -> dict[uuid.UUID, int]:
    await outcomes.settle(conn, [task.id for task in tasks])
    run_ids = await launch.record(conn, planned)
    await launch.start(conn, planned, run_ids, {task.id: task for task in tasks})
    return run_ids


def _plan(task: Any, manual: bool = False) -> launch.Run:
    """What a claimed task gets now: a run (late, skipped or on time) and its next due time."""
    now = task.now
    if task.blocked and manual:
        return launch.Run(task.id, now, "skipped", f"Not run: {task.blocked}.", manual=True, advance=False)
    if task.blocked:
        reason = f"Not run: {task.blocked}. The task is paused; resume it when its owner may run it again."
        return launch.Run(task.id, task.next_run_at, "skipped", reason, pause=True)
    if manual:
        return _running(task, due_at=now, manual=True, advance=False)
    try:
        schedule = store.parse_stored(task.schedule)
    except errors.InvalidTask as exc:  # a restore or a hand edit brought it: this task stops, the others go on
        return launch.Run(task.id, task.next_run_at, "skipped", f"Not run: {exc.detail} Give it a new schedule.", pause=True)
    due = task.next_run_at
    if (now - due).total_seconds() <= GRACE_SECONDS:
        return _running(task, due_at=due, next_run_at=timing.next_after(schedule, due))
    resume = timing.next_from_now(schedule, due, now)
    if task.missed == "skip":
        reason = f"Missed: due at {due.isoformat()} while Soma was not running; skipped as the task's `missed` policy says."
        return launch.Run(task.id, due, "skipped", reason, next_run_at=resume)
    return _running(task, due_at=due, next_run_at=resume, late=True)


def _running(task: Any, due_at: Any, next_run_at: Any = None, late: bool = False, manual: bool = False, advance: bool = True) -> launch.Run:
    """A running run; its chat is a new one, or the task's kept chat (made now on its first run)."""
    kept = task.target == "same_chat" and task.chat_kept
    session_id = task.session_id if kept else uuid.uuid4()
    return launch.Run(
        task.id, due_at, "running", late=late, manual=manual, advance=advance, next_run_at=next_run_at, session_id=session_id,
        new_chat=not kept, keep_chat=task.target == "same_chat" and not kept,
    )  # fmt: skip
