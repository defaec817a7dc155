"""A dead worker's jobs are queued again once each, however many live workers look for them at once."""

from __future__ import annotations

import asyncio

import psycopg

from soma.db import engine as db_engine
from soma.worker import recovery

STALLED_SECONDS = 5
RACE_SECONDS = 3
JOBS = 40  # each re-queue a moment after the list: a wide window for a second look to act on a stale list


async def test_three_recoveries_racing_a_live_worker_requeue_each_of_a_dead_workers_jobs_once(database_url: str) -> None:
    job_ids = _jobs_held_by_a_dead_worker(database_url)
    engines = [db_engine.create(database_url, pool_size=1) for _ in range(3)]
    taken: list[int] = []
    stop = asyncio.Event()

    async def recover(engine) -> None:
        while not stop.is_set():
            await recovery.retry_stalled_once(engine, STALLED_SECONDS)

    async def live_worker() -> None:
        # Takes the job the moment it is queued again, and keeps it (heartbeat fresh) while it runs.
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            worker_id = (await (await conn.execute("SELECT worker_id FROM procrastinate_register_worker_v1()")).fetchone())[0]
            while not stop.is_set():
                row = await (await conn.execute("SELECT id FROM procrastinate_fetch_job_v2(ARRAY['turns'], %s)", (worker_id,))).fetchone()
                if row[0] is not None:
                    taken.append(row[0])
                await conn.execute("SELECT procrastinate_update_heartbeat_v1(%s)", (worker_id,))

    try:
        racing = [asyncio.create_task(recover(e)) for e in engines] + [asyncio.create_task(live_worker())]
        await asyncio.sleep(RACE_SECONDS)
        stop.set()
        await asyncio.gather(*racing)
    finally:
        for engine in engines:
            await engine.dispose()

    with psycopg.connect(database_url) as conn:
        jobs = conn.execute("SELECT status, attempts FROM procrastinate_jobs WHERE id = ANY(%s)", (job_ids,)).fetchall()
    assert sorted(taken) == job_ids  # each run once more, by the live worker only
    assert jobs == [("doing", 1)] * JOBS


def _jobs_held_by_a_dead_worker(database_url: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        dead = conn.execute("SELECT worker_id FROM procrastinate_register_worker_v1()").fetchone()[0]
        job_ids = []
        for n in range(JOBS):  # a lock each (a chat session each), so the live worker may hold them all at once
            insert = "INSERT INTO procrastinate_jobs (queue_name, task_name, args, lock) VALUES ('turns', 'soma.turn', '{}', %s) RETURNING id"
            job_ids.append(conn.execute(insert, (f"race-{n}",)).fetchone()[0])
            assert conn.execute("SELECT id FROM procrastinate_fetch_job_v2(ARRAY['turns'], %s)", (dead,)).fetchone()[0] == job_ids[-1]
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = %s", (dead,))
    return job_ids
