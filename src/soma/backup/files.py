"""Writing a backup to a file: through `<file>.partial`, renamed once whole, so no cut-off archive looks finished."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from soma import errors
from soma.backup import create

PARTIAL = ".partial"  # the suffix of a file still being written


async def write(backup: create.Backup, out: Path) -> None:
    """Stream backup into out; on any failure nothing is left at out or out.partial."""
    partial = out.with_name(out.name + PARTIAL)
    try:
        with _opened(partial) as file:
            await stream(backup, file, str(partial))
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


async def stream(backup: create.Backup, file: BinaryIO, where: str) -> None:
    """Write the archive's chunks to an open file; BackupFileUnusable names where when the disk refuses."""
    try:
        async for chunk in backup.chunks():
            file.write(chunk)
    except OSError as exc:
        raise errors.BackupFileUnusable(f"Cannot write {where} ({exc.strerror}).") from None


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    try:
        file = path.open("wb")
    except OSError as exc:
        raise errors.BackupFileUnusable(f"Cannot write {path} ({exc.strerror}).") from None
    with file:
        yield file
