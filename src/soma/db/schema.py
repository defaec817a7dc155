"""Whether the database holds this version's schema, read without Alembic.

Every process checks the schema when it starts (and /ready on each call), but only `soma migrate`
and `soma up` change it. Importing Alembic and loading its scripts to learn the head revision cost
each gateway, worker and command 0.6 s of CPU, a third of its start; here the head is read from the
migration files' own `revision` lines (tests/db/test_schema.py checks that Alembic agrees) and the
database's revision with one query.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.db import procrastinate_schema

VERSIONS = Path(__file__).parent / "migrations" / "versions"


@functools.cache
def head() -> str:
    """The newest Alembic revision this version of Soma ships: the one no other revision revises."""
    revises = parents()
    heads = set(revises) - set(revises.values())
    if len(heads) != 1:  # a broken package, not an operator's problem: Alembic would refuse it too
        raise RuntimeError(f"the migrations in {VERSIONS} have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


@functools.cache
def parents() -> dict[str, str | None]:
    """Each revision this version ships, and the one it revises (None for the first)."""
    return dict(_revision(path) for path in VERSIONS.glob("*.py") if not path.name.startswith("_"))


def lineage(revision: str) -> list[str]:
    """`revision` and every revision before it, newest first."""
    found, known = [], parents()
    while revision is not None:
        found.append(revision)
        revision = known[revision]
    return found


def _revision(path: Path) -> tuple[str, str | None]:
    """A migration file's (revision, down_revision), from its module-level assignments."""
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("revision", "down_revision") and isinstance(node.value, ast.Constant):
                found[node.targets[0].id] = node.value.value
    return found["revision"], found.get("down_revision")


def current(conn: Connection) -> str | None:
    """The revision the database is at (Alembic's alembic_version row), or None before the first migration."""
    if not conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one():
        return None
    return conn.execute(sa.text("SELECT max(version_num) FROM alembic_version")).scalar_one()


def behind(conn: Connection) -> list[str]:
    """What the database lacks for this version of Soma; empty when the schema is current."""
    missing = []
    revision = current(conn)
    if revision != head():
        missing.append(f"soma schema at {revision or 'nothing'}, needs {head()}")
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
