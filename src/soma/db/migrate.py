"""`soma migrate`: Soma's Alembic migrations, then procrastinate's schema, under one advisory lock.

Only the commands that migrate import this (and Alembic); the others check the schema with soma.db.schema.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from soma.db import engine as db_engine
from soma.db import procrastinate_schema, schema

_LOCK_KEY = 0x50AA_0001  # pg_advisory_lock id: one migrator at a time (Helm hook and `soma up` may race)


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for Soma's migrations, run on conn."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


# A step after the schema, in the same lock: it may queue jobs (procrastinate's schema is there by then).
AfterStep = Callable[[Connection], list[str]]


def upgrade(database_url: str, after: AfterStep | None = None) -> list[str]:
    """Apply every pending migration, then `after` under the same lock; returns what was done (empty when nothing).

    `soma migrate` and `soma up` pass soma.embeddings.reembed.after_migration (the layer above: it
    queues the re-embedding of vectors of another embedder); the tests' template database needs none.
    """
    engine = db_engine.create_once(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
            try:
                return _upgrade_locked(conn, after)
            except BaseException:
                conn.rollback()  # a migration that fails leaves nothing of itself, not even its new tables
                raise
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                conn.commit()
    except sa.exc.OperationalError as exc:
        raise db_engine.unavailable(database_url, exc) from exc.orig
    finally:
        engine.dispose()


def _upgrade_locked(conn: Connection, after: AfterStep | None) -> list[str]:
    before = MigrationContext.configure(conn).get_current_revision()
    command.upgrade(alembic_config(conn), "head")
    conn.commit()
    applied = [] if before == schema.head() else [f"soma {before or 'empty'} -> {schema.head()}"]
    with conn.begin():
        applied += [f"procrastinate {name}" for name in procrastinate_schema.upgrade(conn)]
    if after is not None:
        with conn.begin():
            applied += after(conn)
    return applied
