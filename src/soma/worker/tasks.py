"""The procrastinate app and the tasks it runs: turns, knowledge ingestion, scheduled tasks and their webhooks, scheduled backups, re-embedding."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import procrastinate
import procrastinate.jobs
import psycopg
import psycopg_pool
from procrastinate import JobContext

from soma import errors
from soma.backup import schedule
from soma.conversations import queue, turn
from soma.db import engine as db_engine
from soma.db import url as db_url
from soma.embeddings import reembed
from soma.emergency import lockdown
from soma.knowledge import ingest
from soma.observability import context as log_context
from soma.observability import metrics
from soma.schedules import outcomes, scheduler, webhooks

log = logging.getLogger(__name__)

# Unexpected failures (a database restart mid-turn, a shutdown past the drain timeout) run the turn
# again; the turn itself is idempotent. SLM failures never get here: they end as `turn.failed`.
TURN_RETRY = procrastinate.RetryStrategy(max_attempts=5, wait=2)
LOCKDOWN_RETRY_SECONDS = 2  # a turn refused under lockdown goes back to the queue for this long, as often as it takes


class TurnRetry(procrastinate.BaseRetryStrategy):
    """TURN_RETRY, except that a turn refused by the emergency lockdown waits in the queue however long it lasts.

    The job keeps its id, its place and its session lock, so a session's turns still run in order after
    the lift. Each refusal counts in procrastinate's `attempts`; the lift sets them back to 0
    (emergency.stop.lift), so TURN_RETRY's limit applies to real failures only.
    """

    def get_retry_decision(self, *, exception: BaseException, job: procrastinate.jobs.Job) -> procrastinate.RetryDecision | None:
        if isinstance(exception, errors.Lockdown):
            return procrastinate.RetryDecision(retry_in={"seconds": LOCKDOWN_RETRY_SECONDS})
        return TURN_RETRY.get_retry_decision(exception=exception, job=job)


# Parse failures end the document `failed` without an error; what does get here (the database
# gone mid-job) is worth a few more tries, seconds apart.
INGEST_RETRY = procrastinate.RetryStrategy(max_attempts=3, wait=5)

# A webhook attempt that failed is tried again 2, 4, 8 and 16 s later (webhooks.deliver records each;
# its last attempt ends the job without raising).
WEBHOOK_RETRY = procrastinate.RetryStrategy(max_attempts=webhooks.ATTEMPTS, exponential_wait=webhooks.BACKOFF_BASE)

# A re-embedding that failed (the database gone midway) goes on from its last batch, a little later.
REEMBED_RETRY = procrastinate.RetryStrategy(max_attempts=5, wait=10)

# Every queue every worker takes jobs from; see queues().
QUEUES = (queue.QUEUE, ingest.QUEUE, scheduler.QUEUE, outcomes.WEBHOOK_QUEUE, reembed.QUEUE_NAME)


# Job bookkeeping commits without waiting for the disk: after a crash a job that loses its
# 'doing' or 'succeeded' mark simply runs again, and the turn is idempotent.
JOB_CONNECTION = {"options": "-c synchronous_commit=off"}


def build_app(database_url: str, backup_schedule: str | None = None) -> procrastinate.App:
    """A procrastinate app on Soma's database: turns, ingestion, the scheduled tasks' tick and webhooks, and backups when scheduled."""
    connector = procrastinate.PsycopgConnector(
        conninfo=db_url.for_libpq(database_url), kwargs=JOB_CONNECTION, configure=_autocommit, pool_factory=_job_pool
    )
    app = procrastinate.App(connector=connector)
    app.task(name=queue.TASK_NAME, queue=queue.QUEUE, pass_context=True, retry=TurnRetry())(run_turn)
    app.task(name=ingest.TASK_NAME, queue=ingest.QUEUE, pass_context=True, retry=INGEST_RETRY)(run_ingest)
    app.task(name=reembed.TASK_NAME, queue=reembed.QUEUE_NAME, pass_context=True, lock=reembed.LOCK, retry=REEMBED_RETRY)(run_reembed)
    app.task(name=outcomes.WEBHOOK_TASK, queue=outcomes.WEBHOOK_QUEUE, pass_context=True, retry=WEBHOOK_RETRY)(run_webhook)
    _schedule_ticks(app)
    if backup_schedule:
        _schedule_backups(app, backup_schedule)
    return app


# Each of procrastinate's queries (fetch a job, finish it, retry it) is one statement, so its pool's
# connections run in autocommit: no BEGIN and COMMIT around each. And they are checked by their
# socket (db.engine.hung_up) instead of psycopg_pool's query: a turn's job cost twelve round
# trips (two fetches and a finish, each checked, begun and committed), now three.
async def _autocommit(connection: psycopg.AsyncConnection) -> None:
    await connection.set_autocommit(True)


def _job_pool(**kwargs: Any) -> psycopg_pool.AsyncConnectionPool:
    pool: psycopg_pool.AsyncConnectionPool

    async def check(connection: psycopg.AsyncConnection) -> None:
        if db_engine.hung_up(connection):
            # Closed, the pool drops it; left open it looked usable and was handed out again, so after a
            # PostgreSQL restart no job ran for 30 s (psycopg_pool's getconn timeout), then the worker
            # died. A server that closed one idle connection has closed the others too (a restart),
            # or will: they are all replaced now rather than found dead one by one, a backoff apart.
            await connection.close()
            await pool.drain()
            raise psycopg.OperationalError("PostgreSQL closed this pooled connection")  # the pool takes a new one

    pool = psycopg_pool.AsyncConnectionPool(**(kwargs | {"check": check}))
    return pool


def _schedule_ticks(app: procrastinate.App) -> None:
    """Register the scheduled tasks' tick, every second on every worker (soma.schedules.scheduler says how one due time runs once).

    Its queueing lock keeps one tick waiting at most, and its priority puts it before queued turns;
    no retry: the next tick, a second later, is the retry.
    """
    task = app.task(name=scheduler.TASK_NAME, queue=scheduler.QUEUE, pass_context=True)(run_schedules_tick)
    app.periodic(cron=scheduler.TICK_CRON, periodic_id="scheduled_tasks", priority=scheduler.PRIORITY, queueing_lock=scheduler.LOCK)(task)


def _schedule_backups(app: procrastinate.App, cron: str) -> None:
    """Register the backup task to be deferred at each tick of cron.

    Each scheduling worker runs procrastinate's periodic deferrer, but its row in procrastinate_periodic_defers
    is unique per task and tick, so each tick makes one job. The queueing lock keeps one job waiting
    at most (a backup longer than the interval skips ticks instead of piling them up). No retry: the
    next tick is the retry, and a directory that refused this one would refuse a quick second try.
    """
    task = app.task(
        name=schedule.TASK_NAME, queue=schedule.QUEUE, pass_context=True, lock=schedule.LOCK, queueing_lock=schedule.LOCK
    )(run_backup)
    app.periodic(cron=cron)(task)


def queues(app: procrastinate.App) -> tuple[str, ...]:
    """The queues a worker running app takes jobs from: QUEUES, and the backups queue when backups are scheduled.

    Backups have a queue of their own, and its lock lets one run at a time across all workers: a long
    backup holds one of a worker's SOMA_WORKER_CONCURRENCY slots, so it never delays turns beyond that
    slot. Only a worker that has the backup task takes that queue, so one started without
    SOMA_BACKUP_SCHEDULE never fails a backup job as an unknown task.
    """
    return QUEUES + ((schedule.QUEUE,) if schedule.TASK_NAME in app.tasks else ())


# turn.run's result -> the `outcome` label of soma_turns_total.
OUTCOME_LABELS = {"answered": "completed", "stopped": "stopped", "failed": "failed", "skipped": "skipped"}


async def run_turn(
    context: JobContext, session_id: str, message_id: int, request_id: str | None = None, generation: int = 1, run_id: int | None = None
) -> str:
    """Answer one user message; the engine and SLM client come from the worker's context.

    `request_id` is the id of the HTTP request that posted the message; jobs queued before it was
    added lack it. `generation` > 1 answers it again (regenerate, edit); the job's id lets a stop
    request reach the turn. `run_id`: the scheduled task's run this turn is, ended when the turn
    ends (as answered or failed, from what the database holds: schedules/outcomes.py).
    """
    extra = context.additional_context
    flag: lockdown.Watch | None = extra.get("lockdown")
    if flag is not None and flag.active:
        raise errors.Lockdown()  # back to the queue until the lift: see TurnRetry
    with log_context.bind(request=request_id, session=session_id):
        started = time.monotonic()
        outcome = "error"
        try:
            answering = turn.run(
                extra["engine"], extra["slm"], extra["embedder"], message_id, extra["limits"], generation, context.job.id,
                context.start_timestamp,  # procrastinate's time.time() when it fetched the job
                extra.get("writes"),
                extra.get("tools"),  # the process's MCP connections; without them, the built-in tools only
                extra.get("sandbox"),  # the sandbox service for run_code (tools.sandbox_status.Watch)
            )
            result = await _unless_lockdown(answering, flag, extra["engine"], message_id, generation)
            outcome = OUTCOME_LABELS[result]
            if run_id is not None:
                await outcomes.finish(extra["engine"], run_id)
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:
            if run_id is not None and TurnRetry().get_retry_decision(exception=exc, job=context.job) is None:
                await outcomes.finish(extra["engine"], run_id)  # no retry left: the run ends failed
            raise
        finally:
            _record_turn(message_id, outcome, time.monotonic() - started)


async def _unless_lockdown(
    answering: Coroutine[Any, Any, str], flag: lockdown.Watch | None, engine: Any, message_id: int, generation: int
) -> str:
    """Run the turn; if the lockdown begins meanwhile, cancel it and record it as failed with reason `lockdown`."""
    if flag is None:
        return await answering
    running = asyncio.create_task(answering)
    locked = asyncio.create_task(flag.wait_on())
    try:
        await asyncio.wait({running, locked}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        locked.cancel()
        if not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    if not running.cancelled():
        return running.result()
    await turn.record_cancelled(engine, message_id, "lockdown", errors.Lockdown().message, generation)
    return "failed"


def _record_turn(message_id: int, outcome: str, seconds: float) -> None:
    """Count and time a turn, and log one line for it."""
    metrics.TURNS.labels(outcome).inc()
    metrics.TURN_DURATION.labels(outcome).observe(seconds)
    extra = {"message_id": message_id, "outcome": outcome, "duration_ms": round(seconds * 1000, 1)}
    level = logging.WARNING if outcome == "error" else logging.INFO
    log.log(level, "turn for message %d: %s in %.2fs", message_id, outcome, seconds, extra=extra)


async def run_ingest(context: JobContext, document_id: str) -> str:
    """Index one knowledge document, its bytes read from the database."""
    extra = context.additional_context
    return await ingest.run(extra["engine"], extra["embedder"], uuid.UUID(document_id))


async def run_reembed(context: JobContext) -> int:
    """Re-embed the vectors another embedder made (soma.embeddings.reembed), from where the last run stopped."""
    extra = context.additional_context
    return await reembed.run(extra["engine"], extra["embedder"])


async def run_schedules_tick(context: JobContext, timestamp: int) -> int:
    """Start the runs of the scheduled tasks that are due; `timestamp` is the second procrastinate deferred it for."""
    return await scheduler.tick(context.additional_context["engine"])


async def run_webhook(context: JobContext, run_id: int) -> str:
    """Post a finished run to its task's webhook: one attempt; a failed one raises to be retried (WEBHOOK_RETRY)."""
    return await webhooks.deliver(context.additional_context["engine"], run_id, context.job.attempts + 1)


async def run_backup(context: JobContext, timestamp: int) -> str:
    """Make one scheduled backup; `timestamp` is the tick it was deferred for (procrastinate passes it)."""
    extra = context.additional_context
    try:
        return str(await schedule.run(extra["engine"], extra["backup_dir"], extra["backup_keep"]))
    except errors.SomaError as exc:
        log.error("scheduled backup failed: %s", exc.message)  # the job fails; procrastinate logs its traceback too
        raise
