"""Staging a restore: an archive read as it streams in, verified entry by entry, and kept in PostgreSQL.

Everything is written in one transaction that commits only once the reader has checked the whole
archive (checksums and counts come last): a bad archive, a cut-off upload or a killed gateway
leaves no row behind. Nothing that Soma serves changes here; apply.py does that.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.backup import format, reader, staged, streams
from soma.db import tables
from soma.knowledge import blobs, store
from soma.settings import store as settings_store

_INSERT_SEGMENT = sa.text(
    "INSERT INTO restore_segments (restore_id, kind, number, records) VALUES (:restore_id, :kind, :number, CAST(:records AS json))"
)


@dataclass
class _Staging:
    """One restore being staged: what it has written so far."""

    restore_id: uuid.UUID
    filename: Callable[[], str]  # an upload's name is known only once its part's headers are read
    created_by: str
    manifest: dict[str, Any] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)  # kind -> segments staged


async def stage(engine: AsyncEngine, source: streams.Counted, filename: Callable[[], str], created_by: str) -> dict[str, Any]:
    """Stage the archive on source; returns the staged restore as the API shows it (staged.describe)."""
    staging = _Staging(uuid.uuid4(), filename, created_by)
    async with engine.connect() as conn:
        async with conn.begin():
            await staged.expire(conn)
            async for item in reader.read(source):
                await _stage(conn, staging, item)
            size = await streams.read_to_end(source)
            await conn.execute(sa.update(tables.restores).where(tables.restores.c.id == staging.restore_id).values(size_bytes=size))
        return await staged.describe(conn, staging.restore_id)


async def _stage(conn: AsyncConnection, staging: _Staging, item: reader.Item) -> None:
    if isinstance(item, reader.Document) and item.kind == "manifest":
        staging.manifest = item.value
    elif isinstance(item, reader.Document):
        await _begin(conn, staging, item.value)
    elif isinstance(item, reader.Segment):
        number = staging.segments[item.kind] = staging.segments.get(item.kind, 0) + 1
        records = "[" + item.lines.decode().rstrip("\n").replace("\n", ",") + "]"  # a JSON line holds no line break
        await conn.execute(_INSERT_SEGMENT, {"restore_id": staging.restore_id, "kind": item.kind, "number": number, "records": records})
    else:
        await _stage_blob(conn, staging, item)


async def _begin(conn: AsyncConnection, staging: _Staging, settings: dict[str, Any]) -> None:
    """The restore's row, once the manifest and the settings (the archive's first two entries) are read."""
    try:
        settings_store.AgentSettings.model_validate(settings["data"])
    except pydantic.ValidationError as exc:
        raise errors.BackupDataInvalid(f"{format.SETTINGS} holds settings this Soma refuses: {settings_store.problems(exc)}") from None
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
