"""`soma backup verify` and `inspect`: a good archive passes with exact output; every hostile one is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soma import errors
from soma.db import schema
from tests.backup.conftest import Installed, entries_of, make_archive, soma_bytes
from tests.backup.hostile import MANIFEST, hostile
from tests.procs import run_soma, soma_env



def _verify(env: dict[str, str], archive: bytes, tmp_path: Path):
    path = tmp_path / "suspect.tar"
    path.write_bytes(archive)
    return run_soma(env, "backup", "verify", str(path))


def _refused(done, error: errors.SomaError) -> None:
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {error.message}\n")


async def test_verify_and_inspect_accept_a_backup_with_exact_output(installed: Installed, tmp_path: Path) -> None:
    archive = await make_archive(installed.database_url)
    manifest = json.loads(dict(entries_of(archive))[MANIFEST])
    env = soma_env(installed.database_url)
    done = _verify(env, archive, tmp_path)
    counts = "1 sessions, 2 messages, 2 events, 2 memories, 1 documents, 2 chunks, 3 files, 0 tasks, 0 task_runs, 1 blobs, 2 file_blobs"
    line = f"ok: {len(archive)} bytes, made {manifest['created_at']} by Soma 0.1.0 (format 1, schema {schema.head()}); {counts}\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, line, "")
    from_stdin = soma_bytes(env, "backup", "verify", "-", stdin=archive)
    assert (from_stdin.returncode, from_stdin.stdout.decode()) == (0, line)
    inspected = run_soma(env, "backup", "inspect", str(tmp_path / "suspect.tar"), "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout) == {**manifest, "size_bytes": len(archive)}
    text = run_soma(env, "backup", "inspect", str(tmp_path / "suspect.tar"))
    assert text.stdout.splitlines()[:3] == ["format:          soma-backup 1", f"created at:      {manifest['created_at']}", "soma version:    0.1.0"]


# Every case is refused in-process by tests/backup/test_restore.py (the same reader); here a few
# show the command's one-line refusal, each a process of its own.
@pytest.mark.parametrize("case", ["path traversal", "truncated", "newer schema revision", "size bomb"])
async def test_verify_refuses_a_hostile_or_wrong_archive_in_one_line(case: str, installed: Installed, tmp_path: Path) -> None:
    archive = await make_archive(installed.database_url)
    bad, error = hostile(case, entries_of(archive), archive, installed.sha256)
    _refused(_verify(soma_env(installed.database_url), bad, tmp_path), error)
