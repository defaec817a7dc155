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


def upgrade(conn: Connection) -> list[str]:
    """Bring procrastinate's schema up to the installed version, in the caller's transaction."""
    todo = pending(conn)
    if todo == ["schema.sql"]:
        # A fresh database takes the current schema whole; every migration is then already in it.
        _execute_script(conn, _read("schema.sql"))
        _record(conn, migration_names())
        return todo
    for name in todo:
        _execute_script(conn, _read(f"migrations/{name}"))
        _record(conn, [name])
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
