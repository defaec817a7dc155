"""Scheduled backups: one archive into SOMA_BACKUP_DIR per tick of SOMA_BACKUP_SCHEDULE, the newest SOMA_BACKUP_KEEP kept."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.auth import admin
from soma.backup import create, files
from soma.backup import format as backup_format

log = logging.getLogger(__name__)

TASK_NAME = "soma.backup.scheduled"
QUEUE = "backups"
LOCK = "soma-backup-schedule"  # one scheduled backup runs at a time, however many workers take the queue
# The audit log's actor, `kind:name` like `user:ann` and `cli:root@host`, for an act no person started.
ACTOR = "system:backup-schedule"

# What create.Backup.filename makes, and its .partial: nothing else in the directory is ever deleted.
BACKUP_NAME = re.compile(r"soma-backup-\d{8}T\d{6}Z\.tar")
PARTIAL_NAME = re.compile(BACKUP_NAME.pattern + re.escape(files.PARTIAL))
STALE_PARTIAL_SECONDS = 3600  # a .partial this old was left by a killed backup, not one still being written


async def run(engine: AsyncEngine, directory: Path, keep: int) -> Path:
    """Write a backup into directory and audit it, then delete the backups beyond the newest keep; returns its path.

    Raises BackupDirUnusable, naming the path, when the directory cannot be made, written or pruned.
    """
    _make_dir(directory)
    backup = create.Backup(engine)
    out = directory / backup.filename
    try:
        await files.write(backup, out)
    except errors.BackupFileUnusable as exc:
        raise errors.BackupDirUnusable(exc.detail) from None
    await backup.record(admin.Actor(ACTOR), str(out))
    removed = prune(directory, keep, time.time())
    _log_written(backup, out, removed)
    return out


def _log_written(backup: create.Backup, out: Path, removed: list[Path]) -> None:
    """One line per backup: where, how big, what it holds, how many old files went."""
    counts = backup.manifest["counts"]
    extra = {"path": str(out), "size_bytes": backup.size_bytes, "counts": counts, "removed": len(removed)}
    line = "scheduled backup written to %s: %d bytes; %s; %d old files removed"
    log.info(line, out, backup.size_bytes, backup_format.counts_line(counts), len(removed), extra=extra)


def prune(directory: Path, keep: int, now: float) -> list[Path]:
    """Delete the backups beyond the newest keep and the stale .partial files; returns what was deleted."""
    try:
        names = [path for path in directory.iterdir() if path.is_file()]
    except OSError as exc:
        raise errors.BackupDirUnusable(f"Cannot list {directory} ({exc.strerror}).") from None
    backups = sorted(path for path in names if BACKUP_NAME.fullmatch(path.name))  # the UTC time in the name sorts them
    partials = [path for path in names if PARTIAL_NAME.fullmatch(path.name) and _age(path, now) > STALE_PARTIAL_SECONDS]
    doomed = backups[:-keep] + partials
    for path in doomed:
        try:
            path.unlink(missing_ok=True)  # `soma backup create` may write and remove files here meanwhile
        except OSError as exc:
            raise errors.BackupDirUnusable(f"Cannot delete {path} ({exc.strerror}).") from None
    return doomed


def _age(path: Path, now: float) -> float:
    """Seconds since path was last written; 0 when it is gone (a backup being written was renamed meanwhile)."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _make_dir(directory: Path) -> None:
    """Create the directory when missing, readable by the worker's user alone: backups hold every chat."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.BackupDirUnusable(f"Cannot create {directory} ({exc.strerror}).") from None
