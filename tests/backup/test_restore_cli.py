"""`soma backup restore`: previewed, asked, applied all at once; refused in one line with nothing changed."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.backup.conftest import Installed, make_archive
from tests.backup.test_restore import STAGING, settings_of, state
from tests.procs import run_soma, soma_env


def _change(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM memories WHERE id = (SELECT min(id) FROM memories)")
        conn.execute("INSERT INTO chat_sessions (title) VALUES ('After the backup')")
        conn.execute("UPDATE agent_settings SET data = data || '{\"temperature\": 1.5}'")


async def test_restore_previews_then_applies_keeping_the_settings(installed: Installed, tmp_path: Path) -> None:
    url = installed.database_url
    archive = tmp_path / "nightly.tar"
    archive.write_bytes(await make_archive(url))
    before = state(url)
    _change(url)
    changed_settings = settings_of(url)
    done = run_soma(soma_env(url), "backup", "restore", str(archive), "--mode", "preserve-settings", "--yes")
    assert done.returncode == 0, done.stderr
    counts = "1 sessions, 2 messages, 2 events, 2 memories, 1 documents, 2 chunks, 3 files, 0 tasks, 0 task_runs, 1 blobs, 2 file_blobs"
    assert done.stdout == f"restored {archive} (preserve_settings): {counts}\n"
    assert "settings are kept (1 differ in the backup)" in done.stderr
    assert state(url) == before and settings_of(url) == changed_settings


async def test_restore_asks_first_and_a_no_or_a_bad_file_changes_nothing(installed: Installed, tmp_path: Path) -> None:
    url = installed.database_url
    archive = tmp_path / "nightly.tar"
    archive.write_bytes(await make_archive(url))
    _change(url)
    changed = state(url)
    env = soma_env(url)
    declined = run_soma(env, "backup", "restore", str(archive), "--mode", "overwrite", stdin="n\n")
    assert declined.returncode == 1
    assert "  temperature: 1.5 -> 0.25" in declined.stderr and declined.stderr.endswith("restore cancelled: nothing was changed\n")
    piped = run_soma(env, "backup", "restore", "-", "--mode", "overwrite")
    assert (piped.returncode, piped.stderr.splitlines()[0]) == (1, "error: Standard input holds the backup, so it cannot also answer the question. "
                                                                  "Add --yes to restore without being asked, after reading the preview of `soma backup inspect FILE`.")
    broken = tmp_path / "broken.tar"
    broken.write_bytes(archive.read_bytes()[:10000])  # inside the memories segment
    refused = run_soma(env, "backup", "restore", str(broken), "--mode", "overwrite", "--yes")
    assert refused.returncode == 1 and refused.stderr.startswith("error: The archive ends inside") and len(refused.stderr.splitlines()) == 1
    assert state(url) == changed
    assert query_states(url) == [("discarded",)]
    with psycopg.connect(url) as conn:
        assert conn.execute(STAGING).fetchall() == [(0,)]


def query_states(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT state FROM restores").fetchall()
