"""What a backup holds, read in one REPEATABLE READ, READ ONLY transaction, as archive entries in order."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.backup import apply, format, rows
from soma.backup.writer import Entry
from soma.db import tables
from soma.knowledge import blobs
from soma.profiles import saved as saved_profiles
from soma.tools import saved as saved_tools
from soma.workspaces import store as workspace_store

ROWS_PER_FETCH = 500  # rows a server-side cursor hands over at a time
BLOBS_PER_PAGE = 1000  # blob names listed at a time, so a million files do not sit in memory

_b, _d, _f = tables.knowledge_blobs, tables.knowledge_documents, tables.workspace_files
# Only the bytes some document uses: an upload still in flight is invisible here anyway.
_USED = sa.exists().where(_d.c.sha256 == _b.c.sha256)


async def begin(conn: AsyncConnection) -> None:
    """Make the caller's new transaction one consistent, read-only view; call it before anything else in it.

    The tables a restore empties with TRUNCATE are locked (ACCESS SHARE) at once: TRUNCATE is not
    MVCC-safe, so a restore committing mid-backup would otherwise empty tables not yet read.
    """
    await conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    await conn.execute(sa.text(f"LOCK TABLE {', '.join(apply.REPLACED)} IN ACCESS SHARE MODE"))


class Snapshot:
    """The entries of one backup; `manifest` is set once the first entry was made."""

    def __init__(self, created_at: datetime.datetime) -> None:
        self.created_at = created_at
        self.manifest: dict[str, Any] = {}

    async def entries(self, conn: AsyncConnection) -> AsyncIterator[Entry]:
        """manifest.json, settings.json, every table's segments, every knowledge blob, then every chat file's content, read on conn (after `begin`)."""
        revision = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
        self.manifest = format.manifest(revision, self.created_at, await _counts(conn))
        yield Entry.of(format.MANIFEST, format.dumps(self.manifest))
        settings = (await conn.execute(sa.select(tables.agent_settings.c["data", "version", "updated_at"]))).one()
        tools = await saved_tools.read(conn)  # the tool servers as references: no secret value is in the database
        profiles = await saved_profiles.read(conn)
        yield Entry.of(format.SETTINGS, format.dumps({**rows.encode(settings._mapping), "tools": tools, "profiles": profiles}))
        for kind in format.TABLES:
            async for entry in _segments(conn, kind):
                yield entry
        async for sha256, size in _blobs(conn):
            yield Entry(format.blob_name(sha256), size, blobs.pieces(conn, sha256))
        async for session_id, described in _file_contents(conn):
            name = format.blob_name(described["sha256"], format.FILE_BLOBS)
            yield Entry(name, described["size"], workspace_store.pieces(conn, session_id, described))


async def _counts(conn: AsyncConnection) -> dict[str, int]:
    counted = {kind: sa.select(sa.func.count()).select_from(rows.SCHEMAS[kind][0]) for kind in format.TABLES}
    counted[format.BLOBS] = sa.select(sa.func.count()).select_from(_b).where(_USED)
    counted[format.FILE_BLOBS] = sa.select(sa.func.count(sa.distinct(_f.c.sha256)))
    return {kind: (await conn.execute(query)).scalar_one() for kind, query in counted.items()}


async def _segments(conn: AsyncConnection, kind: str) -> AsyncIterator[Entry]:
    """One kind's rows as JSON Lines, cut into segments of at most SEGMENT_BYTES (a lone row may pass it)."""
    segment = bytearray()
    number = 0
    result = await conn.stream(rows.query(kind).execution_options(yield_per=ROWS_PER_FETCH))
    async for row in result:
        line = rows.line(row._mapping) + b"\n"
        if len(line) > format.MAX_ROW_BYTES:
            raise RuntimeError(f"a row of {kind} has {len(line)} bytes, over MAX_ROW_BYTES")
        if segment and len(segment) + len(line) > format.SEGMENT_BYTES:
            number += 1
            yield Entry.of(format.segment_name(kind, number), bytes(segment))
            segment.clear()
        segment += line
    if segment:
        yield Entry.of(format.segment_name(kind, number + 1), bytes(segment))


async def _blobs(conn: AsyncConnection) -> AsyncIterator[tuple[str, int]]:
    """(sha256, size) of every blob a document uses, in ascending sha256 order, a page at a time."""
    after = ""
    while True:
        query = sa.select(_b.c.sha256, _b.c.size_bytes).where(_USED, _b.c.sha256 > after).order_by(_b.c.sha256)
        page = (await conn.execute(query.limit(BLOBS_PER_PAGE))).all()
        for row in page:
            yield row.sha256, row.size_bytes
        if len(page) < BLOBS_PER_PAGE:
            return
        after = page[-1].sha256


async def _file_contents(conn: AsyncConnection) -> AsyncIterator[tuple[uuid.UUID, dict[str, Any]]]:
    """Each distinct content of the chats' files, in ascending sha256 order, as one file that holds it (session, description)."""
    after = ""
    while True:
        page = (await conn.execute(_FILE_CONTENTS, {"after": after, "limit": BLOBS_PER_PAGE})).all()
        for row in page:
            yield row.session_id, {"path": row.path, "size": row.size, "sha256": row.sha256}
        if len(page) < BLOBS_PER_PAGE:
            return
        after = page[-1].sha256


# One file for each content after :after (the index on sha256 gives them in order): each content is written once.
_FILE_CONTENTS = sa.text(
    "SELECT DISTINCT ON (sha256) sha256, size, session_id, path FROM workspace_files"
    " WHERE sha256 > :after ORDER BY sha256, session_id, path LIMIT :limit"
)
