"""Sources an archive is read from (soma.backup.reader.Source): an open file, or an upload as it arrives."""

from __future__ import annotations

import asyncio
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
