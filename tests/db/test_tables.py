"""tables.py describes the schema the migrations build: Alembic compares the two on a freshly migrated database."""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from soma.db import tables
from soma.db import url as db_url


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave out procrastinate's tables and their indexes: its own schema.sql makes them, not tables.py."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table or "").startswith("procrastinate_")


def _differences(database_url: str, metadata: sa.MetaData) -> list[Any]:
    """What Alembic would change to make the database match `metadata`: tables, columns, types, defaults, indexes."""
    engine = sa.create_engine(db_url.for_sqlalchemy(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            options = {"include_object": _ours, "compare_type": True, "compare_server_default": True}
            return compare_metadata(MigrationContext.configure(conn, opts=options), metadata)
    finally:
        engine.dispose()


def _check_constraints(database_url: str) -> dict[str, set[str]]:
    """Each of our tables' CHECK constraints by name, which compare_metadata does not look at."""
    engine = sa.create_engine(db_url.for_sqlalchemy(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {name: {c["name"] for c in inspector.get_check_constraints(name)} for name in tables.metadata.tables}
    finally:
        engine.dispose()


def _index_definitions(database_url: str) -> dict[str, str]:
    """Every index's CREATE INDEX statement, as PostgreSQL gives it back."""
    with psycopg.connect(database_url) as conn:
        return dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall())


def test_tables_py_matches_the_migrated_schema(database_url) -> None:
    assert _differences(database_url, tables.metadata) == []


def test_tables_py_names_the_check_constraints_the_migrations_made(database_url) -> None:
    declared = {
        name: {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)} for name, table in tables.metadata.tables.items()
    }

    assert declared == _check_constraints(database_url)


def test_indexes_are_built_the_way_tables_py_says(database_url) -> None:
    """compare_metadata compares an index's columns, not its method: an HNSW index rebuilt as a B-tree would pass it."""
    built = _index_definitions(database_url)
    unlike = []
    for table in tables.metadata.tables.values():
        for index in table.indexes:
            options = index.dialect_options["postgresql"]
            wanted = [f" USING {options['using'] or 'btree'} "] + [f"({column} {ops})" for column, ops in (options["ops"] or {}).items()]
            if options["with"]:  # the build parameters: an HNSW graph built with pgvector's defaults would pass the rest
                wanted.append("WITH (" + ", ".join(f"{key}='{value}'" for key, value in options["with"].items()) + ")")
            if not all(part in built[index.name] for part in wanted):
                unlike.append((index.name, wanted, built[index.name]))
    assert unlike == []


def test_the_comparison_sees_a_column_and_an_index_that_differ(database_url) -> None:
    drifted = sa.MetaData()
    for table in tables.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["memories"].append_column(sa.Column("mood", sa.Text))
    audit_log = drifted.tables["audit_log"]
    audit_log.indexes.remove(next(i for i in audit_log.indexes if i.name == "audit_log_at"))

    found = [(diff[0], getattr(diff[-1], "name", None)) for diff in _differences(database_url, drifted)]

    assert sorted(found) == [("add_column", "mood"), ("remove_index", "audit_log_at")]
