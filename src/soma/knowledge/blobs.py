"""Knowledge file bytes in PostgreSQL: one blob per distinct content, stored as ordered pieces.

An upload is written piece by piece, hashed on the way, inside the caller's transaction: under a
key of its own (`incoming:<uuid>`) until its SHA-256 is known, then renamed to that. Nothing is
visible to others before that transaction commits, so an upload that does not finish (a client
gone, a size limit, a killed gateway) leaves no rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.db import tables

# Bytes per row of knowledge_blob_pieces. PostgreSQL stores any bytea over ~2 KB in TOAST chunks
# of ~2 KB whatever the row holds, so bigger rows save nothing on disk; 256 KiB keeps one piece
# (the most an upload or a download holds in memory) small while a 20 MiB file is only 80 rows.
PIECE_BYTES = 256 * 1024

_b = tables.knowledge_blobs
_p = tables.knowledge_blob_pieces


class Writer:
    """One upload's bytes, written as they arrive in the caller's transaction, hashed and counted.

    Holds at most one piece in memory. Call write() for each part, finish() after the last, then
    keep() once the content is wanted; a transaction rolled back instead leaves nothing.
    """

    def __init__(self, conn: AsyncConnection, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._conn = conn
        self._key = f"incoming:{uuid.uuid4()}"
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._pieces = 0
        self._opened = False
        self._finished = False

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes written so far (of the whole file once finished)."""
        return self._hash.hexdigest()

    async def write(self, data: bytes) -> None:
        """Append data; FileTooLarge, before storing it, when it takes the file past max_bytes."""
        if self.size + len(data) > self.max_bytes:
            raise errors.FileTooLarge(f"The file is over the {self.max_bytes}-byte limit set by upload_max_bytes.")
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= PIECE_BYTES:
            piece = bytes(self._buffer[:PIECE_BYTES])
            del self._buffer[:PIECE_BYTES]
            await self._store(piece)

    async def finish(self) -> str:
        """Store what is left after the last write(); returns the file's SHA-256."""
        if self._buffer:
            await self._store(bytes(self._buffer))
            self._buffer.clear()
        await self._open()  # an empty file is a blob without pieces
        self._finished = True
        return self.sha256

    async def keep(self) -> None:
        """File the finished bytes under their SHA-256, in the caller's transaction.

        The caller holds the content's lock. Content already stored keeps its blob and this copy is dropped.
        """
        if not self._finished:
            raise RuntimeError("keep() before finish()")
        exists = sa.select(sa.exists().where(_b.c.sha256 == self.sha256))
        if (await self._conn.execute(exists)).scalar_one():
            await self._conn.execute(sa.delete(_b).where(_b.c.sha256 == self._key))
            return
        # ON UPDATE CASCADE renames the pieces with it; their bytes (in TOAST) are not rewritten.
        await self._conn.execute(sa.update(_b).where(_b.c.sha256 == self._key).values(sha256=self.sha256, size_bytes=self.size))

    async def _open(self) -> None:
        if not self._opened:
            await self._conn.execute(sa.insert(_b).values(sha256=self._key, size_bytes=0))
            self._opened = True

    async def _store(self, piece: bytes) -> None:
        await self._open()
        await asyncio.to_thread(self._hash.update, piece)  # hashlib lets go of the GIL: the event loop keeps serving
        await self._conn.execute(sa.insert(_p).values(sha256=self._key, ordinal=self._pieces, data=piece))
        self._pieces += 1


async def pieces(conn: AsyncConnection, sha256: str) -> AsyncIterator[bytes]:
    """The content with this SHA-256 on conn, one piece at a time, from one query (one consistent snapshot)."""
    query = sa.select(_p.c.data).where(_p.c.sha256 == sha256).order_by(_p.c.ordinal).execution_options(yield_per=1)
    result = await conn.stream(query)
    async for row in result:
        yield row.data


async def read(conn: AsyncConnection, sha256: str) -> bytes:
    """The whole content with this SHA-256, in memory (b"" when there is none)."""
    return b"".join([piece async for piece in pieces(conn, sha256)])


async def stream(engine: AsyncEngine, sha256: str) -> AsyncIterator[bytes]:
    """The content with this SHA-256, one piece at a time, on a connection of its own."""
    async with engine.connect() as conn:
        async for piece in pieces(conn, sha256):
            yield piece


# Neither a document nor a staged restore uses the blob.
_UNREFERENCED = (
    ~sa.exists().where(tables.knowledge_documents.c.sha256 == _b.c.sha256),
    ~sa.exists().where(tables.restore_blobs.c.sha256 == _b.c.sha256),
)


async def remove_unreferenced(conn: AsyncConnection, sha256: str) -> None:
    """Delete the content with this SHA-256, with its pieces, unless a document or a staged restore still uses it."""
    await conn.execute(sa.delete(_b).where(_b.c.sha256 == sha256, *_UNREFERENCED))


async def remove_all_unreferenced(conn: AsyncConnection) -> None:
    """Delete every content nothing uses; uploads in flight (`incoming:…`) are left to their own transactions."""
    await conn.execute(sa.delete(_b).where(*_UNREFERENCED, ~_b.c.sha256.startswith("incoming:")))
