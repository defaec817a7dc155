"""procrastinate's own schema: applied and recorded by us, since procrastinate does not track its migrations."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from soma.db import tables

_RECORD = tables.procrastinate_migrations


def migration_names() -> list[str]:
    """Every migration file procrastinate ships, in the order it must run."""
    folder = resources.files("procrastinate.sql") / "migrations"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))


def _installed(conn: Connection) -> bool:
    return conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar_one()


def _recorded(conn: Connection) -> set[str]:
    return set(conn.execute(sa.select(_RECORD.c.name)).scalars())


def pending(conn: Connection) -> list[str]:
    """Migrations not yet applied; all of them (as 'schema.sql') on a database without procrastinate."""
    if not _installed(conn):
        return ["schema.sql"]
    done = _recorded(conn)
    return [name for name in migration_names() if name not in done]


# Soma's addition to procrastinate's schema, made again at every migrate (idempotent).
# A chat's turns share a procrastinate lock, so the next one cannot be fetched while the one before
# runs, and procrastinate NOTIFYs workers only when a job is inserted: a worker that found nothing
# it could take waited for its 5 s poll, so a message sent during an answer started up to 5 s late.
# This trigger sends the same `job_inserted` notification when a job holding a lock leaves `doing`
# (finished, failed, retried or deleted) while a job with that lock waits.
WAKE_NEXT_IN_LOCK = """
CREATE OR REPLACE FUNCTION soma_notify_lock_released() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    waiting bigint;
BEGIN
    IF OLD.lock IS NULL OR OLD.status <> 'doing' OR (TG_OP = 'UPDATE' AND NEW.status = 'doing') THEN
        RETURN NULL;
    END IF;
    SELECT id INTO waiting FROM procrastinate_jobs WHERE lock = OLD.lock AND status = 'todo' ORDER BY id LIMIT 1;
    IF waiting IS NOT NULL THEN
        PERFORM pg_notify('procrastinate_queue_v1#' || OLD.queue_name, json_build_object('type', 'job_inserted', 'job_id', waiting)::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER soma_jobs_notify_lock_released AFTER UPDATE OF status OR DELETE ON procrastinate_jobs
    FOR EACH ROW EXECUTE FUNCTION soma_notify_lock_released();
"""


def upgrade(conn: Connection) -> list[str]:
    """Bring procrastinate's schema up to the installed version, with Soma's trigger, in the caller's transaction."""
    todo = pending(conn)
    if todo == ["schema.sql"]:
        # A fresh database takes the current schema whole; every migration is then already in it.
        _execute_script(conn, _read("schema.sql"))
        _record(conn, migration_names())
    else:
        for name in todo:
            _execute_script(conn, _read(f"migrations/{name}"))
            _record(conn, [name])
    _execute_script(conn, WAKE_NEXT_IN_LOCK)
    return todo


def _read(relative: str) -> str:
    return (resources.files("procrastinate.sql") / relative).read_text(encoding="utf-8")


def _execute_script(conn: Connection, script: str) -> None:
    # Straight to psycopg with no parameters, so the scripts' own '%' signs are left alone.
    with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(script)


def _record(conn: Connection, names: list[str]) -> None:
    if names:
        conn.execute(sa.insert(_RECORD), [{"name": n} for n in names])
