"""`soma backup`: create an archive of chats, memories, knowledge and settings; verify and inspect one."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import typer

from soma import errors
from soma.cli.common import DB_VARS, app, fail, on_database, settings as _settings

backup_app = typer.Typer(help="Backups: create, verify, inspect and restore archives (docs/backup-format.md).", no_args_is_help=True)
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

    return _read(path, verify.verify_file)


@backup_app.command(help="Check a backup completely (format, versions, checksums, counts) without changing anything; "
                    "exit 0, or 1 with the reason. FILE - reads standard input.")  # fmt: skip
def verify(file: str = typer.Argument(..., help="The archive, or - for standard input.")) -> None:
    typer.echo(_verified(file).line())


@backup_app.command(help="Verify a backup, then show its manifest: when and by which Soma it was made, and what it holds. "
                    "An Agent Zero backup (.zip) is previewed instead: what would come over and what would not. "
                    "FILE - reads standard input.")  # fmt: skip
def inspect(
    file: str = typer.Argument(..., help="The archive, or - for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON, with size_bytes."),
) -> None:
    if _is_zip(file):
        found = _agent_zero_preview(file)
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False) if as_json else _agent_zero_text(found))
        return
    summary = _verified(file)
    typer.echo(json.dumps(summary.as_json(), indent=2) if as_json else summary.text())


def _is_zip(path: str) -> bool:
    """A zip is an Agent Zero backup to preview; Soma's own archives are tar streams."""
    from soma.agent_zero import archive

    try:
        if path == STDIO:
            return archive.looks_like_zip(_peek(sys.stdin.buffer, len(archive.ZIP_MAGIC)))
        with _source(path) as stream:
            return archive.looks_like_zip(stream.read(len(archive.ZIP_MAGIC)))
    except OSError as exc:
        fail(errors.BackupFileUnusable(f"Cannot read {path} ({exc.strerror})."))
    except errors.SomaError as exc:
        fail(exc)


def _peek(stream: BinaryIO, size: int) -> bytes:
    """The first bytes of a stream, left in it to be read again (a pipe is buffered; other streams seek back)."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return peek(size)[:size]
    head = stream.read(size)
    stream.seek(-len(head), io.SEEK_CUR)
    return head


def _agent_zero_preview(path: str) -> dict[str, Any]:
    """What the Agent Zero backup would bring; otherwise the reason and exit 1."""
    from soma.agent_zero import archive, preview
    from soma.backup import streams

    async def previewed(stream: BinaryIO) -> dict[str, Any]:
        # A zip's directory is at its end: a pipe is kept in a temporary file first, as an upload is.
        async with streams.seekable(streams.Peeked(b"", streams.FileSource(stream)), archive.MAX_TOTAL_BYTES) as (file, _size):
            return preview.preview(file)

    return _read(path, lambda stream: asyncio.run(previewed(stream)))


def _read(path: str, read: Callable[[Any], Any]) -> Any:
    """`read` of the file (or stdin for -); a file that cannot be read or fails the reading is its reason and exit 1."""
    _settings()  # logging, and a bad setting named before any work
    try:
        with _source(path) as stream:
            return read(stream)
    except OSError as exc:
        fail(errors.BackupFileUnusable(f"Cannot read {path} ({exc.strerror})."))
    except errors.SomaError as exc:
        fail(exc)


def _agent_zero_text(found: dict[str, Any]) -> str:
    from soma.agent_zero import preview

    return preview.text(found)


class Mode(str, enum.Enum):
    overwrite = "overwrite"
    preserve_settings = "preserve-settings"


@backup_app.command(help="Replace chats, memories and knowledge files with a backup's (Soma's .tar or Agent Zero's .zip), at once "
                    "and all or nothing; settings too with --mode overwrite, not with preserve-settings. The backup is verified and "
                    f"previewed before anything changes. FILE - reads standard input (then --yes is needed). Reads {DB_VARS}.")  # fmt: skip
def restore(
    file: str = typer.Argument(..., help="The archive, or - for standard input."),
    mode: Mode = typer.Option(..., "--mode", help="overwrite: take the backup's settings; preserve-settings: keep the current ones."),
    yes: bool = typer.Option(False, "--yes", help="Apply without asking after the preview."),
) -> None:
    if file == STDIO and not yes:
        fail(errors.RestoreNeedsYes("Standard input holds the backup, so it cannot also answer the question."))
    typer.echo(on_database(lambda engine: _restore(engine, file, mode.value.replace("-", "_"), yes)))


async def _restore(engine: AsyncEngine, path: str, mode: str, yes: bool) -> str:
    """Stage and preview the backup, ask (unless yes), apply; a restore not applied is discarded."""
    from soma.agent_zero import convert
    from soma.audit import log as audit
    from soma.auth import admin
    from soma.backup import apply, format, staged, staging, streams
    from soma.embeddings import embedder

    actor = admin.Actor(audit.cli_actor())
    with _source(path) as stream:
        try:
            agent_zero = convert.AgentZero(embedder.MiniLM())  # its chats have no owner: the CLI is no user
            preview = await staging.stage(engine, streams.FileSource(stream), lambda: path, actor.name, agent_zero)
        except OSError as exc:
            raise errors.BackupFileUnusable(f"Cannot read {path} ({exc.strerror}).") from None
    restore_id = preview["id"]
    try:
        typer.echo(_preview(preview, mode), err=True)
        if not yes and not typer.confirm("Replace them now?", err=True):
            typer.echo("restore cancelled: nothing was changed", err=True)
            raise typer.Exit(1)
        done = await apply.apply(engine, uuid.UUID(restore_id), mode, actor)
    except BaseException:
        async with engine.begin() as conn:
            await staged.discard(conn, uuid.UUID(restore_id), actor.name)
        raise
    return f"restored {path} ({mode}): {format.counts_line(done['counts'])}"


def _preview(preview: dict[str, Any], mode: str) -> str:
    """What the restore brings and replaces, for people, before they confirm."""
    from soma.agent_zero import preview as agent_zero
    from soma.backup import format

    m = preview["manifest"]
    if m["format"] == "agent-zero":
        lines = [f"Agent Zero backup, {preview['size_bytes']} bytes", agent_zero.text(m["agent_zero"]), f"it becomes: {format.counts_line(m['counts'])}"]
    else:
        lines = [
            f"backup made {m['created_at']} by Soma {m['soma_version']} (schema {m['schema_revision']}), {preview['size_bytes']} bytes",
            f"it holds: {format.counts_line(m['counts'])}",
        ]
    lines.append("every current chat, memory and knowledge file is replaced by these")
    if mode == "overwrite":
        changes = [f"  {d['key']}: {d['current']!r} -> {d['backup']!r}" for d in preview["settings_diff"]]
        lines += ["settings are overwritten: " + ("no setting differs" if not changes else f"{len(changes)} change")] + changes
    else:
        lines.append(f"settings are kept ({len(preview['settings_diff'])} differ in the backup)")
    if preview["owners_unmatched"]:
        lines.append(f"{preview['owners_unmatched']} chats belong to people not known here: only admins will see them")
    return "\n".join(lines)
