"""Making a backup: a snapshot of the database streamed as archive bytes, then its audit record."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from soma.auth import admin
from soma.backup import snapshot, writer

ACTION = "backup.created"


class Backup:
    """One backup being made: iterate `chunks()` once, then `record()` who made it."""

    def __init__(self, engine: AsyncEngine, created_at: datetime.datetime | None = None) -> None:
        self.engine = engine
        self.created_at = created_at or datetime.datetime.now(datetime.UTC)
        self.size_bytes = 0
        self._snapshot = snapshot.Snapshot(self.created_at)

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest, once the first chunk was produced."""
        return self._snapshot.manifest

    @property
    def filename(self) -> str:
        """`soma-backup-<UTC time>.tar`, the name a download is offered under."""
        return f"soma-backup-{self.created_at.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}.tar"

    async def chunks(self) -> AsyncIterator[bytes]:
        """The archive, produced as it is read from one consistent snapshot, holding one connection throughout."""
        async with self.engine.connect() as conn:
            async with conn.begin():
                await snapshot.begin(conn)
                entries = self._snapshot.entries(conn)
                async for chunk in writer.archive(entries, int(self.created_at.timestamp())):
                    self.size_bytes += len(chunk)
                    yield chunk

    async def record(self, actor: admin.Actor, target: str) -> None:
        """Write `backup.created` to the audit log: who, what it holds, how big it is."""
        details = {
            "counts": self.manifest["counts"],
            "size_bytes": self.size_bytes,
            "schema_revision": self.manifest["schema_revision"],
        }
        async with self.engine.begin() as conn:
            await actor.record(conn, ACTION, target, details)
