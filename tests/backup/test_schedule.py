"""Scheduled backups: the job writes, audits and prunes; the worker schedules it only when asked, once per tick."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pydantic
import pytest
from procrastinate import periodic
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config, errors
from soma.backup import schedule, streams, verify
from soma.db import engine as db_engine
from soma.worker import tasks
from tests.backup.conftest import Installed
from tests.procs import soma_env

COUNTS = {"sessions": 1, "messages": 2, "events": 2, "memories": 2, "documents": 1, "chunks": 2, "files": 3, "tasks": 0, "task_runs": 0,
          "blobs": 1, "file_blobs": 2}
CRON = "0 3 * * *"
TICK = 1_767_236_400  # 2026-01-01T03:00:00Z, a tick of CRON
HELP = "Fix the value in the environment or in .env, then start again; `soma COMMAND --help` names each command's settings."
EXAMPLE = "give 5 fields in UTC: minute hour day-of-month month day-of-week, e.g. '0 3 * * *' for 03:00 every day"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.create(database_url, pool_size=2)
    yield engine
    await engine.dispose()


def _old_backup(directory: Path, day: int) -> Path:
    """A backup file as an earlier run would have left it, made on 2020-01-<day>."""
    path = directory / f"soma-backup-202001{day:02d}T030000Z.tar"
    path.write_bytes(b"an older backup")
    return path


def _audit(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT actor, target, details FROM audit_log WHERE action = 'backup.created'").fetchall()


def _jobs(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT task_name, queue_name, status, args FROM procrastinate_jobs ORDER BY id").fetchall()


async def test_a_scheduled_backup_is_a_verified_archive_in_a_private_directory_and_is_audited(
    installed: Installed, tmp_path: Path
) -> None:
    directory = tmp_path / "not" / "yet" / "there"
    engine = db_engine.create(installed.database_url, pool_size=2)
    try:
        out = await schedule.run(engine, directory, keep=7)
    finally:
        await engine.dispose()

    assert (out.parent, bool(schedule.BACKUP_NAME.fullmatch(out.name))) == (directory, True)
    assert list(directory.iterdir()) == [out]
    assert directory.stat().st_mode & 0o777 == 0o700
    with out.open("rb") as file:
        summary = await verify.verify(streams.FileSource(file))
    assert (summary.manifest["counts"], summary.size_bytes) == (COUNTS, out.stat().st_size)
    details = {"counts": COUNTS, "size_bytes": out.stat().st_size, "schema_revision": summary.manifest["schema_revision"]}
    assert _audit(installed.database_url) == [("system:backup-schedule", str(out), details)]


async def test_only_the_newest_backups_are_kept_and_other_files_are_left_alone(engine: AsyncEngine, tmp_path: Path) -> None:
    oldest, _older, newer = (_old_backup(tmp_path, day) for day in (1, 2, 3))
    foreign = ["notes.txt", "soma-backup-latest.tar", "soma-backup-20200101T030000Z.tar.gz", "soma-backup-2020.tar"]
    for name in foreign:
        (tmp_path / name).write_text("not ours to delete")
    (tmp_path / "soma-backup-20191231T030000Z.tar").mkdir()  # a directory, whatever its name

    out = await schedule.run(engine, tmp_path, keep=2)

    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted([*foreign, "soma-backup-20191231T030000Z.tar", newer.name, out.name])
    assert not oldest.exists()


async def test_partial_files_older_than_an_hour_are_removed_and_younger_ones_kept(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    stale = tmp_path / "soma-backup-20200101T030000Z.tar.partial"
    fresh = tmp_path / "soma-backup-20200102T030000Z.tar.partial"  # perhaps `soma backup create` writing right now
    foreign = tmp_path / "upload.tar.partial"
    for path in (stale, fresh, foreign):
        path.write_bytes(b"cut off")
    two_hours_ago = time.time() - 2 * 3600
    for path in (stale, foreign):
        os.utime(path, (two_hours_ago, two_hours_ago))

    out = await schedule.run(engine, tmp_path, keep=7)

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([fresh.name, foreign.name, out.name])


async def test_a_directory_that_cannot_be_made_is_named_and_nothing_is_audited(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    directory = tmp_path / "a-file" / "backups"

    with pytest.raises(errors.BackupDirUnusable) as caught:
        await schedule.run(engine, directory, keep=7)

    assert caught.value.message == f"Cannot create {directory} (Not a directory). {errors.BackupDirUnusable.__doc__}"
    assert _audit(database_url) == []


def test_the_worker_takes_the_backups_queue_and_schedules_backups_only_when_asked(database_url: str) -> None:
    unscheduled = tasks.build_app(database_url)
    scheduled = tasks.build_app(database_url, CRON)

    assert (_backup_ticks(unscheduled), schedule.TASK_NAME in unscheduled.tasks) == ([], False)
    assert tasks.queues(unscheduled) == ("turns", "knowledge", "schedules", "webhooks", "maintenance")
    [registered] = _backup_ticks(scheduled)
    task = registered.task
    assert (task.name, registered.cron, task.queue, task.lock, task.queueing_lock) == (
        "soma.backup.scheduled", CRON, "backups", "soma-backup-schedule", "soma-backup-schedule"
    )  # fmt: skip
    assert tasks.queues(scheduled) == ("turns", "knowledge", "schedules", "webhooks", "maintenance", "backups")


def _backup_ticks(app) -> list:
    """The app's periodic backup task (beside it, every worker has the scheduled tasks' tick)."""
    return [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == schedule.TASK_NAME]


async def _defer_tick(app, timestamp: int) -> None:
    """What a worker's periodic deferrer does when the tick at timestamp comes round."""
    async with app.open_async():
        [registered] = _backup_ticks(app)
        await periodic.PeriodicDeferrer(app.periodic_registry).defer_jobs([(registered, timestamp)])


async def _work(app, engine: AsyncEngine, directory: Path) -> None:
    """One worker's pass over the queues, returning once they are empty, as `soma worker` runs jobs."""
    # Its own deferrer defers no tick (procrastinate's App option): run between 03:00 and 03:10 UTC,
    # the test would otherwise find the tick of today too.
    app.periodic_defaults = {"max_delay": 0}
    async with app.open_async():
        await app.run_worker_async(
            queues=list(tasks.queues(app)),
            wait=False,
            listen_notify=False,
            install_signal_handlers=False,
            additional_context={"engine": engine, "backup_dir": directory, "backup_keep": 7},
        )


async def test_each_tick_makes_one_backup_however_many_workers_defer_it(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    first, second = tasks.build_app(database_url, CRON), tasks.build_app(database_url, CRON)

    await _defer_tick(first, TICK)
    await _work(first, engine, tmp_path)
    await _defer_tick(second, TICK)  # a slower worker, once the first one's backup is done
    await _work(second, engine, tmp_path)

    assert _jobs(database_url) == [("soma.backup.scheduled", "backups", "succeeded", {"timestamp": TICK})]
    [out] = tmp_path.iterdir()
    assert [row[:2] for row in _audit(database_url)] == [("system:backup-schedule", str(out))]


async def test_a_tick_that_comes_while_a_backup_still_waits_is_skipped(database_url: str) -> None:
    app = tasks.build_app(database_url, CRON)

    await _defer_tick(app, TICK)
    await _defer_tick(app, TICK + 86400)

    assert _jobs(database_url) == [("soma.backup.scheduled", "backups", "todo", {"timestamp": TICK})]


async def test_a_backup_the_directory_refuses_fails_its_job_with_one_clear_line_and_the_worker_carries_on(
    engine: AsyncEngine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    directory = tmp_path / "a-file" / "backups"
    app = tasks.build_app(database_url, CRON)
    await _defer_tick(app, TICK)

    with caplog.at_level(logging.ERROR, logger="soma.worker.tasks"):
        await _work(app, engine, directory)

    assert [job[2] for job in _jobs(database_url)] == ["failed"]
    lines = [r.getMessage() for r in caplog.records if r.name == "soma.worker.tasks"]
    reason = f"Cannot create {directory} (Not a directory). {errors.BackupDirUnusable.__doc__}"
    assert lines == [f"scheduled backup failed: {reason}"]


def test_a_bad_schedule_stops_the_worker_naming_the_variable_and_an_example(tmp_path: Path) -> None:
    env = soma_env("postgresql://nobody@127.0.0.1:1/none", backup_schedule="0 3 * *")

    done = subprocess.run(
        [sys.executable, "-m", "soma", "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"error: SOMA_BACKUP_SCHEDULE='0 3 * *': has 4 fields; {EXAMPLE}. {HELP}\n"


@pytest.mark.parametrize(
    ("schedule_value", "problem"),
    [
        ("0 3 * * * *", f"has 6 fields; {EXAMPLE}"),
        ("@daily", f"has 1 fields; {EXAMPLE}"),
        ("61 3 * * *", f"is not a cron schedule (out of range); {EXAMPLE}"),
        ("0 3 * * funday", f"is not a cron schedule (a field that is not a number, name, range or step); {EXAMPLE}"),
        ("0 3 31 2 *", f"never comes round; {EXAMPLE}"),
    ],
)
def test_a_schedule_cron_cannot_run_is_refused_saying_why(schedule_value: str, problem: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        config.Settings(_env_file=None, backup_schedule=schedule_value)

    assert [(e["loc"], e["msg"]) for e in caught.value.errors()] == [(("backup_schedule",), problem)]


def test_backups_default_to_none_kept_seven_under_the_data_dir(tmp_path: Path) -> None:
    settings = config.Settings(_env_file=None, data_dir=tmp_path, backup_schedule=" ")

    assert (settings.backup_schedule, settings.backup_dir, settings.backup_keep) == (None, tmp_path / "backups", 7)
    assert config.Settings(_env_file=None, backup_schedule=" 0 3 * * 1-5 ").backup_schedule == "0 3 * * 1-5"
    with pytest.raises(pydantic.ValidationError):
        config.Settings(_env_file=None, backup_keep=0)
