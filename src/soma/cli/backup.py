"""`soma backup`: create an archive of chats, memories, knowledge and settings; verify and inspect one."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typer

from soma import errors
from soma.cli.common import DB_VARS, app, fail, on_database, settings as _settings

backup_app = typer.Typer(help="Backups: create, verify and inspect archives (docs/backup-format.md).", no_args_is_help=True)
app.add_typer(backup_app, name="backup")
STDIO = "-"

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from soma.backup import verify as backup_verify


@backup_app.command(help=f"Write a backup of chats, memories, knowledge files and settings to FILE; never a secret. Reads {DB_VARS}.")
def create(out: str = typer.Option(..., "--out", help="The archive to write, or - for standard output.")) -> None:
    summary = on_database(lambda engine: _create(engine, out))
    typer.echo(summary, err=out == STDIO)


async def _create(engine: AsyncEngine, out: str) -> str:
    """Stream the archive to out (a file written whole or not at all); returns the line to print."""
    from soma.audit import log as audit
    from soma.auth import admin
    from soma.backup import create as backup_create
    from soma.backup import files
    from soma.backup import format as backup_format

    backup = backup_create.Backup(engine)
    if out == STDIO:
        await files.stream(backup, sys.stdout.buffer, "standard output")
        sys.stdout.buffer.flush()
    else:
        await files.write(backup, Path(out))
    await backup.record(admin.Actor(audit.cli_actor()), out)
    counts = backup_format.counts_line(backup.manifest["counts"])
    return f"backup written to {'standard output' if out == STDIO else out}: {backup.size_bytes} bytes; {counts}"


@contextlib.contextmanager
def _source(path: str) -> Iterator[BinaryIO]:
    if path == STDIO:
        yield sys.stdin.buffer
        return
    try:
        file = open(path, "rb")  # noqa: SIM115  (closed by the with below)
    except OSError as exc:
        raise errors.BackupFileUnusable(f"Cannot read {path} ({exc.strerror}).") from None
    with file:
        yield file


def _verified(path: str) -> backup_verify.Summary:
    """The archive's summary once it is verified; otherwise the reason and exit 1."""
    from soma.backup import verify

    _settings()  # logging, and a bad setting named before any work
    try:
        with _source(path) as stream:
            return verify.verify_file(stream)
    except OSError as exc:
        fail(errors.BackupFileUnusable(f"Cannot read {path} ({exc.strerror})."))
    except errors.SomaError as exc:
        fail(exc)


@backup_app.command(help="Check a backup completely (format, versions, checksums, counts) without changing anything; "
                    "exit 0, or 1 with the reason. FILE - reads standard input.")  # fmt: skip
def verify(file: str = typer.Argument(..., help="The archive, or - for standard input.")) -> None:
    typer.echo(_verified(file).line())


@backup_app.command(help="Verify a backup, then show its manifest: when and by which Soma it was made, and what it holds.")
def inspect(
    file: str = typer.Argument(..., help="The archive, or - for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON, with size_bytes."),
) -> None:
    summary = _verified(file)
    typer.echo(json.dumps(summary.as_json(), indent=2) if as_json else summary.text())
