"""The worker's job connections after PostgreSQL drops them (a restart, a killed backend): replaced, not handed out again."""

from __future__ import annotations

import psycopg

from soma.worker import tasks
from tests import procs


async def test_jobs_are_fetched_again_at_once_after_postgresql_closed_every_pooled_connection(database_url: str) -> None:
    app = tasks.build_app(database_url)
    async with app.open_async():
        assert await app.connector.execute_query_one_async("SELECT 1 AS one") == {"one": 1}  # a pooled connection, idle now
        with psycopg.connect(database_url, autocommit=True) as admin:
            closed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            assert closed >= 1
            # pg_terminate_backend only signals: until a backend has exited, its socket is still open
            # and the pool cannot yet see that the connection is dead.
            procs.wait_until(lambda: _others(admin) == 0, 10, "the terminated backends to exit")

        # Before the fix the check refused the dead connection but the pool kept it: PoolTimeout after 30 s.
        assert await app.connector.execute_query_one_async("SELECT 2 AS two") == {"two": 2}
        assert await app.job_manager.list_jobs_async() == []


def _others(admin: psycopg.Connection) -> int:
    """Backends of this database besides `admin`'s own."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    return admin.execute(query).fetchone()[0]
