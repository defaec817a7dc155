"""`soma migrate`: Soma's Alembic migrations, then procrastinate's schema, under one advisory lock."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.db import engine as db_engine
from soma.db import procrastinate_schema

_LOCK_KEY = 0x50AA_0001  # pg_advisory_lock id: one migrator at a time (Helm hook and `soma up` may race)


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for Soma's migrations, run on conn."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    """The newest Alembic revision this version of Soma ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def upgrade(database_url: str) -> list[str]:
    """Apply every pending migration; returns what was applied (empty when already current)."""
    engine = db_engine.create_once(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
            try:
                return _upgrade_locked(conn)
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


def _upgrade_locked(conn: Connection) -> list[str]:
    before = MigrationContext.configure(conn).get_current_revision()
    command.upgrade(alembic_config(conn), "head")
    conn.commit()
    applied = [] if before == head() else [f"soma {before or 'empty'} -> {head()}"]
    with conn.begin():
        applied += [f"procrastinate {name}" for name in procrastinate_schema.upgrade(conn)]
    return applied


def behind(conn: Connection) -> list[str]:
    """What the database lacks for this version of Soma; empty when the schema is current."""
    missing = []
    current = MigrationContext.configure(conn).get_current_revision()
    if current != head():
        missing.append(f"soma schema at {current or 'nothing'}, needs {head()}")
    elif pending := procrastinate_schema.pending(conn):
        missing.append(f"procrastinate schema lacks {', '.join(pending)}")
    return missing


def require_current(conn: Connection) -> None:
    """Raise SchemaBehind, naming what is missing, when the database is not at this version's schema."""
    if missing := behind(conn):
        raise errors.SchemaBehind("; ".join(missing) + ".")


async def check(engine: AsyncEngine) -> None:
    """`require_current` on an async engine, for /ready."""
    async with engine.connect() as conn:
        await conn.run_sync(require_current)
