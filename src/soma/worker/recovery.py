"""Running again the turns of workers that died: procrastinate marks them stalled but never retries them."""

from __future__ import annotations

import asyncio
import logging

import procrastinate

log = logging.getLogger(__name__)


async def retry_stalled_once(app: procrastinate.App, stalled_seconds: float) -> int:
    """Put back in the queue every job held by a worker silent for stalled_seconds; returns how many."""
    # Every queue: a killed worker may have held a turn or a knowledge ingestion.
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds)
    retried = 0
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
            retried += 1
            log.warning("%s job %s of a dead worker is queued again", job.task_name, job.id)
        except Exception as exc:  # another live worker retried it first
            log.info("job %s was already recovered: %s", job.id, exc)
    return retried


async def run(app: procrastinate.App, stalled_seconds: float, interval: float) -> None:
    """Check for stalled turns every `interval` seconds until cancelled."""
    while True:
        try:
            await retry_stalled_once(app, stalled_seconds)
        except Exception:
            log.exception("stalled-turn check failed; trying again in %.0fs", interval)
        await asyncio.sleep(interval)
