"""Running again the turns of workers that died: procrastinate marks them stalled but never retries them.

Every worker looks for stalled jobs, so the look and the re-queue happen in one transaction under
one advisory lock. Without it, worker A re-queued a job, worker B took it, and worker C, which had
listed the job as stalled before A's re-queue, re-queued it again from under B: one due time ran
three times.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

LOCK_KEY = 0x736F6D615F726563  # "soma_rec": one recovery at a time across every worker

_LOCK = sa.text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
# procrastinate's select_stalled_jobs_by_heartbeat, locking the rows it returns.
_STALLED = sa.text(
    """
    SELECT job.id, job.task_name
      FROM procrastinate_jobs job
      LEFT JOIN procrastinate_workers w ON w.id = job.worker_id
     WHERE job.status = 'doing'
       AND (job.worker_id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :seconds))
     ORDER BY job.id
       FOR UPDATE OF job
    """
)
_RETRY = sa.text("SELECT procrastinate_retry_job_v2(:job_id, now(), NULL, NULL, NULL)")


async def retry_stalled_once(engine: AsyncEngine, stalled_seconds: float) -> int:
    """Put back in the queue every job held by a worker silent for stalled_seconds; returns how many."""
    # Every queue: a killed worker may have held a turn or a knowledge ingestion.
    async with engine.begin() as conn:
        await conn.execute(_LOCK)  # the list below is read after the last holder's re-queues committed
        stalled = (await conn.execute(_STALLED, {"seconds": stalled_seconds})).all()
        for job_id, task_name in stalled:
            await conn.execute(_RETRY, {"job_id": job_id})
            log.warning("%s job %s of a dead worker is queued again", task_name, job_id)
    return len(stalled)


async def run(engine: AsyncEngine, stalled_seconds: float, interval: float) -> None:
    """Check for stalled turns every `interval` seconds until cancelled."""
    while True:
        try:
            await retry_stalled_once(engine, stalled_seconds)
        except Exception:
            log.exception("stalled-turn check failed; trying again in %.0fs", interval)
        await asyncio.sleep(interval)
