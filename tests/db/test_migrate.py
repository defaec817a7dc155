"""`soma migrate` and the schema check that keeps gateway and worker off a database that is behind."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from soma.db import procrastinate_schema, schema
from tests import procs


def _soma(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = procs.soma_env(database_url, slm_base_url="http://127.0.0.1:9/v1", port=str(procs.free_port()))
    return subprocess.run([sys.executable, "-m", "soma", command], env=env, capture_output=True, text=True, timeout=60)


def _empty_database(postgres, name: str) -> str:
    with psycopg.connect(postgres.url.replace("/soma?", "/postgres?"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres.url.replace("/soma?", f"/{name}?")


def test_migrate_builds_an_empty_database_and_records_every_procrastinate_migration(postgres) -> None:
    url = _empty_database(postgres, "migrate_fresh")

    first = _soma("migrate", url)
    second = _soma("migrate", url)

    assert first.returncode == 0, first.stderr
    assert first.stdout == f"applied: soma empty -> {schema.head()}\napplied: procrastinate schema.sql\n"
    assert (second.returncode, second.stdout) == (0, "schema is current\n")
    with psycopg.connect(url) as conn:
        recorded = [r[0] for r in conn.execute("SELECT name FROM soma_procrastinate_migrations ORDER BY name")]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert recorded == procrastinate_schema.migration_names()
    assert {"chat_sessions", "messages", "session_events", "agent_settings", "procrastinate_jobs"} <= tables


def test_gateway_and_worker_refuse_an_unmigrated_database_and_say_to_run_migrate(postgres) -> None:
    url = _empty_database(postgres, "migrate_none")

    for command in ("gateway", "worker"):
        result = _soma(command, url)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: soma schema at nothing, needs {schema.head()}. The database schema is older than this "
            "version of Soma. Run `soma migrate`, then start again."
        )


def test_an_unrecorded_procrastinate_migration_counts_as_behind(database_url) -> None:
    newest = procrastinate_schema.migration_names()[-1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM soma_procrastinate_migrations WHERE name = %s", (newest,))

    result = _soma("worker", database_url)

    assert result.returncode == 1
    assert f"procrastinate schema lacks {newest}" in result.stderr
    assert "Run `soma migrate`" in result.stderr


def test_migrate_names_the_database_it_cannot_reach() -> None:
    result = _soma("migrate", "postgresql://soma:secret@127.0.0.1:1/soma")

    assert result.returncode == 1
    assert "error: postgresql://soma:***@127.0.0.1:1/soma:" in result.stderr
    assert "secret" not in result.stderr
    assert "Check SOMA_DATABASE_URL" in result.stderr
