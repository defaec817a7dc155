"""Sources an archive is read from (soma.backup.reader.Source): an open file, or an upload as it arrives."""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import AsyncIterator
from typing import BinaryIO, Protocol

from soma import errors
from soma.backup import format, reader


class Counted(Protocol):
    """A reader.Source that counts the bytes read from it, as both sources here do."""

    count: int

    async def read(self, size: int) -> bytes: ...


async def read_to_end(source: Counted) -> int:
    """Read what follows the archive's end marker (tar pads to a record); returns the whole size read.

    No further than the archive limit: an upload that goes on and on is refused, not read forever.
    """
    while await source.read(reader.READ_BYTES):
        if source.count > format.MAX_ARCHIVE_BYTES:
            raise errors.BackupTooLarge(f"The archive goes on past its end marker for more than {format.MAX_ARCHIVE_BYTES} bytes.")
    return source.count



class Peeked:
    """A source whose first bytes were already read (to tell a zip from a tar), handed back first."""

    def __init__(self, head: bytes, source: Counted) -> None:
        self.head = head
        self.source = source

    @property
    def count(self) -> int:
        return self.source.count

    async def read(self, size: int) -> bytes:
        if not self.head:
            return await self.source.read(size)
        data, self.head = self.head[:size], self.head[size:]
        return data + (await self.source.read(size - len(data)) if len(data) < size else b"")


@contextlib.asynccontextmanager
async def seekable(source: Peeked, limit: int) -> AsyncIterator[tuple[BinaryIO, int]]:
    """The whole stream as a file that can seek, and its size: a local file as it is, anything else copied to a temporary file.

    BackupTooLarge once more than `limit` bytes arrive.
    """
    inner = source.source
    if isinstance(inner, FileSource) and inner.file.seekable():
        inner.file.seek(0, io.SEEK_END)
        yield inner.file, inner.file.tell()
        return
    with tempfile.TemporaryFile() as file:
        size = 0
        while data := await source.read(reader.READ_BYTES):
            size += len(data)
            if size > limit:
                raise errors.BackupTooLarge(f"The zip is over {limit} bytes.")
            file.write(data)  # a local write of 256 KiB: quick enough for the event loop, like FileSource's reads
        yield file, size


class FileSource:
    """An open binary file (or standard input), read without leaving the event loop: local reads are quick."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.count = 0  # bytes read so far

    async def read(self, size: int) -> bytes:
        data = self.file.read(size)
        self.count += len(data)
        return data


class Pipe:
    """Bytes handed over from one task (an upload being received) to another (the reader), a few chunks at a time.

    `put` waits while MAX_CHUNKS are unread, so a slow reader slows the upload instead of filling
    memory. Once the reader gives up (`abandon`, e.g. on a bad archive), `put` raises what it gave
    up with, so the upload stops too.
    """

    MAX_CHUNKS = 16  # uvicorn hands over a body in chunks of at most 64 KiB

    def __init__(self) -> None:
        self.count = 0  # bytes put so far
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue(self.MAX_CHUNKS)
        self._buffer = bytearray()
        self._ended = False
        self._abandoned: BaseException | None = None

    async def put(self, data: bytes) -> None:
        """Hand over the next bytes of the stream."""
        if self._abandoned is not None:
            raise self._abandoned
        if data:
            self.count += len(data)
            await self._chunks.put(data)

    async def end(self) -> None:
        """Say the stream is complete."""
        if self._abandoned is None:
            await self._chunks.put(b"")

    def abandon(self, reason: BaseException) -> None:
        """The reader stops: free a waiting put, and make every later one raise reason."""
        self._abandoned = reason
        while not self._chunks.empty():
            self._chunks.get_nowait()

    async def read(self, size: int) -> bytes:
        while len(self._buffer) < size and not self._ended:
            chunk = await self._chunks.get()
            if not chunk:
                self._ended = True
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
