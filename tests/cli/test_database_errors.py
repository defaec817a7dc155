"""Every command that uses the database fails the same way, with one line and exit code 1, when it cannot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg

from soma.db import schema
from tests import procs

CLOSED = "postgresql://soma:secret@127.0.0.1:1/soma"  # nothing listens on port 1
PASSWORD = "a long enough password\n"  # what `users create` and `users reset-password` read first

# Every command that opens the database; each reads the schema except `migrate` and `up` (which migrate it).
USING_THE_SCHEMA = [
    ("gateway",),
    ("worker",),
    ("users", "create", "ann"),
    ("users", "list"),
    ("users", "disable", "ann"),
    ("users", "reset-password", "ann"),
    ("keys", "create", "--name", "ci", "--scope", "chat"),
    ("keys", "list"),
    ("keys", "revoke", "1"),
    ("keys", "revoke", "--all"),
    ("slm", "rotate-key"),
    ("backup", "create", "--out", "-"),
    ("tunnel", "run"),
    ("emergency-stop", "--reason", "test", "--yes"),
]
MIGRATING = [("migrate",), ("up",)]


def _env(database_url: str) -> dict[str, str]:
    # Vault is configured (for `slm rotate-key`) but down: every command asks the database before Vault.
    return procs.soma_env(
        database_url, slm_base_url="http://127.0.0.1:9/v1", worker_metrics_port="0", port=str(procs.free_port()),
        vault_addr="http://127.0.0.1:9", vault_token="unused",
    )  # fmt: skip


def _outcomes(database_url: str, commands: list[tuple[str, ...]]) -> dict[str, tuple[int, str]]:
    """Each command's exit code and first stderr line; a traceback or any other kind of line fails the test.

    The commands run a few at a time: each spends most of its second importing Soma.
    """

    def outcome(command: tuple[str, ...]) -> tuple[int, str]:
        result = procs.run_soma(_env(database_url), *command, stdin=PASSWORD if "users" in command else "new-slm-key\n")
        lines = result.stderr.splitlines()
        assert lines and all(line.startswith("  caused by: ") for line in lines[1:]), result.stderr
        return result.returncode, lines[0]

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip((" ".join(c) for c in commands), pool.map(outcome, commands)))


def test_every_command_says_the_same_line_when_postgresql_does_not_answer() -> None:
    commands = USING_THE_SCHEMA + MIGRATING

    found = _outcomes(CLOSED, commands)

    expected = (
        'error: postgresql://soma:***@127.0.0.1:1/soma: connection failed: connection to server at "127.0.0.1", '
        "port 1 failed: Connection refused. PostgreSQL did not answer or refused the connection. Check "
        "SOMA_DATABASE_URL (or the embedded server in SOMA_DATA_DIR), that the server runs and that it accepts this user."
    )
    assert found == {" ".join(command): (1, expected) for command in commands}


def test_every_command_but_migrate_says_the_same_line_when_the_schema_is_behind(postgres) -> None:
    with psycopg.connect(postgres.url.replace("/soma?", "/postgres?"), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "never_migrated"')
    url = postgres.url.replace("/soma?", "/never_migrated?")

    found = _outcomes(url, USING_THE_SCHEMA)

    expected = (
        f"error: soma schema at nothing, needs {schema.head()}. The database schema is older than this version "
        "of Soma. Run `soma migrate`, then start again."
    )
    assert found == {" ".join(command): (1, expected) for command in USING_THE_SCHEMA}
