"""Staging a restore: an archive read as it streams in, verified entry by entry, and kept in PostgreSQL.

Everything is written in one transaction that commits only once the reader has checked the whole
archive (checksums and counts come last): a bad archive, a cut-off upload or a killed gateway
leaves no row behind. Nothing that Soma serves changes here; apply.py does that.

Another program's backup (Agent Zero's zip, known by its first bytes) is staged the same way, as
the records its Importer maps it to, so its preview, apply and discard are those of a Soma backup.
The caller hands the importer in (soma.agent_zero.convert.AgentZero): backup reads only its own
format and imports no other's reader, which imports backup's records.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.backup import format, reader, staged, streams
from soma.db import tables
from soma.knowledge import blobs, store
from soma.settings import store as settings_store
from soma.profiles import saved as saved_profiles
from soma.tools import saved as saved_tools

_INSERT_SEGMENT = sa.text(
    "INSERT INTO restore_segments (restore_id, kind, number, records) VALUES (:restore_id, :kind, :number, CAST(:records AS json))"
)


class Importer(Protocol):
    """Another program's backup read as the items of a restore (soma.agent_zero.convert.AgentZero is one)."""

    @property
    def magic(self) -> bytes:
        """How its files start (a Soma backup, a tar, never starts so)."""

    @property
    def max_bytes(self) -> int:
        """The most a file of it may hold: an upload is kept in a temporary file of up to this while it is read."""

    async def read(self, file: BinaryIO, current: settings_store.AgentSettings) -> AsyncIterator[reader.Item]:
        """Read the whole file (which can seek), then hand over its items; `current` are the settings now."""


@dataclass
class _Staging:
    """One restore being staged: what it has written so far."""

    restore_id: uuid.UUID
    filename: Callable[[], str]  # an upload's name is known only once its part's headers are read
    created_by: str
    manifest: dict[str, Any] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)  # kind -> segments staged


async def stage(
    engine: AsyncEngine,
    source: streams.Counted,
    filename: Callable[[], str],
    created_by: str,
    importer: Importer | None = None,
) -> dict[str, Any]:
    """Stage the archive on source; returns the staged restore as the API shows it (staged.describe).

    A file that starts as `importer`'s files do is staged as the Soma records it maps to; without
    an importer every file is read as a Soma backup.
    """
    staging = _Staging(uuid.uuid4(), filename, created_by)
    if importer is not None:
        head = await source.read(len(importer.magic))
        source = streams.Peeked(head, source)
        if head.startswith(importer.magic):
            return await _stage_imported(engine, staging, source, importer)
    return await _stage_all(engine, staging, reader.read(source), lambda: streams.read_to_end(source))


async def _stage_all(
    engine: AsyncEngine, staging: _Staging, items: AsyncIterator[reader.Item], size: Callable[[], Awaitable[int]]
) -> dict[str, Any]:
    """Stage every item in one transaction, then record the archive's size (which `size` reads to its end)."""
    async with engine.connect() as conn:
        async with conn.begin():
            await staged.expire(conn)
            async for item in items:
                await _stage(conn, staging, item)
            size_bytes = await size()
            await conn.execute(sa.update(tables.restores).where(tables.restores.c.id == staging.restore_id).values(size_bytes=size_bytes))
        return await staged.describe(conn, staging.restore_id)


async def _stage_imported(engine: AsyncEngine, staging: _Staging, source: streams.Peeked, importer: Importer) -> dict[str, Any]:
    """A zip is read from a file (its directory is at its end): an upload is kept in a temporary one first."""
    async with engine.connect() as conn:
        current = await settings_store.load(conn)
    async with streams.seekable(source, importer.max_bytes) as (file, size_bytes):
        items = await importer.read(file, current)  # before the transaction: reading and embedding take a while

        async def size() -> int:
            return size_bytes

        return await _stage_all(engine, staging, items, size)


async def _stage(conn: AsyncConnection, staging: _Staging, item: reader.Item) -> None:
    if isinstance(item, reader.Document) and item.kind == "manifest":
        staging.manifest = item.value
    elif isinstance(item, reader.Document):
        await _begin(conn, staging, item.value)
    elif isinstance(item, reader.Segment):
        number = staging.segments[item.kind] = staging.segments.get(item.kind, 0) + 1
        records = "[" + item.lines.decode().rstrip("\n").replace("\n", ",") + "]"  # a JSON line holds no line break
        await conn.execute(_INSERT_SEGMENT, {"restore_id": staging.restore_id, "kind": item.kind, "number": number, "records": records})
    elif item.kind == format.FILE_BLOBS:
        await _stage_file_blob(conn, staging, item)
    else:
        await _stage_blob(conn, staging, item)


async def _begin(conn: AsyncConnection, staging: _Staging, settings: dict[str, Any]) -> None:
    """The restore's row, once the manifest and the settings (the archive's first two entries) are read."""
    try:
        settings_store.AgentSettings.model_validate(settings["data"])
    except pydantic.ValidationError as exc:
        raise errors.BackupDataInvalid(f"{format.SETTINGS} holds settings this Soma refuses: {settings_store.problems(exc)}") from None
    if settings.get("tools") is not None:
        try:
            saved_tools.check(settings["tools"])
        except errors.InvalidToolServer as exc:
            raise errors.BackupDataInvalid(f"{format.SETTINGS} holds tool servers this Soma refuses: {exc.detail}") from None
    if settings.get("profiles") is not None:
        try:
            saved_profiles.check(settings["profiles"])
        except errors.InvalidProfile as exc:
            raise errors.BackupDataInvalid(f"{format.SETTINGS} holds agent profiles this Soma refuses: {exc.detail}") from None
    revision = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
    values = {
        "id": staging.restore_id,
        "filename": staging.filename(),
        "size_bytes": 0,
        "schema_revision": revision,  # the reader carried every record forward to it
        "manifest": staging.manifest,
        "settings": settings,
        "created_by": staging.created_by,
        "created_at": datetime.datetime.now(datetime.UTC),
    }
    await conn.execute(sa.insert(tables.restores).values(values))


async def _stage_blob(conn: AsyncConnection, staging: _Staging, blob: reader.Blob) -> None:
    """The file's bytes into knowledge_blobs (unless that content is stored already), held for this restore."""
    await store.lock_content(conn, blob.sha256)  # no document delete removes it meanwhile
    exists = (await conn.execute(sa.select(sa.exists().where(tables.knowledge_blobs.c.sha256 == blob.sha256)))).scalar_one()
    if exists:
        async for _ in blob.chunks:  # still read, so the reader checks its hash
            pass
    else:
        writer = blobs.Writer(conn, format.MAX_BLOB_BYTES)
        async for chunk in blob.chunks:
            await writer.write(chunk)
        await writer.finish()
        await writer.keep()
    await conn.execute(sa.insert(tables.restore_blobs).values(restore_id=staging.restore_id, sha256=blob.sha256))


async def _stage_file_blob(conn: AsyncConnection, staging: _Staging, blob: reader.Blob) -> None:
    """A chat file's bytes into restore_file_pieces, piece by piece as they stream in; the apply joins them."""
    ordinal = 0
    async for chunk in blob.chunks:
        values = {"restore_id": staging.restore_id, "sha256": blob.sha256, "ordinal": ordinal, "data": chunk}
        await conn.execute(sa.insert(tables.restore_file_pieces).values(values))
        ordinal += 1
