"""Queue depth and the age of the oldest waiting job, read from procrastinate's tables when scraped."""

from __future__ import annotations

import asyncio
import logging
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma.observability import metrics

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0  # a scrape within this long of the last query reuses its figures
QUERY_TIMEOUT = 2.0  # seconds; below the worker's liveness probe timeout, which scrapes /metrics

# A job waits from its last move to 'todo' (deferred, put back for a retry, retried by hand) or
# from its scheduled time, whichever is later; a job scheduled in the future does not wait yet.
_SAMPLE = sa.text(
    """
    SELECT q.queue,
           count(j.id) AS depth,
           coalesce(extract(epoch FROM now() - min(j.waiting_since)), 0) AS oldest_age
    FROM unnest(CAST(:queues AS text[])) AS q(queue)
    LEFT JOIN LATERAL (
        SELECT jobs.id,
               CASE WHEN jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now() THEN greatest(
                   jobs.scheduled_at,
                   (SELECT max(e.at) FROM procrastinate_events e
                    WHERE e.job_id = jobs.id AND e.type IN ('deferred', 'deferred_for_retry', 'retried'))
               ) END AS waiting_since
        FROM procrastinate_jobs jobs
        WHERE jobs.queue_name = q.queue AND jobs.status = 'todo'
    ) j ON true
    GROUP BY q.queue
    """
)


class QueueSampler:
    """Sets soma_queue_depth and soma_queue_oldest_age_seconds for `queues`, at most once per SAMPLE_SECONDS."""

    def __init__(self, engine: AsyncEngine, queues: tuple[str, ...]) -> None:
        self.engine = engine
        self.queues = queues
        self._sampled_at = -SAMPLE_SECONDS
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Query the queues unless a recent sample stands; when the query fails the gauges go absent."""
        async with self._lock:  # concurrent scrapes share one query
            if time.monotonic() - self._sampled_at < SAMPLE_SECONDS:
                return
            self._sampled_at = time.monotonic()
            try:
                rows = await asyncio.wait_for(self._query(), QUERY_TIMEOUT)
            except Exception as exc:  # a scrape must answer even while PostgreSQL is down
                first_line = (str(exc).strip().splitlines() or [""])[0]
                log.warning("queue metrics unavailable: %s: %s", type(exc).__name__, first_line)
                metrics.QUEUE_DEPTH.clear()
                metrics.QUEUE_OLDEST_AGE.clear()
                return
            for queue, depth, oldest_age in rows:
                metrics.QUEUE_DEPTH.labels(queue).set(depth)
                metrics.QUEUE_OLDEST_AGE.labels(queue).set(max(float(oldest_age), 0.0))

    async def _query(self) -> list[sa.Row]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(_SAMPLE, {"queues": list(self.queues)}))
