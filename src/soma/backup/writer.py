"""Tar bytes from a stream of entries, each hashed as it passes, and checksums.json at the end."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from soma.backup import format, tar


@dataclass
class Entry:
    """One file of the archive: its name, its size (known before its first byte) and its bytes."""

    name: str
    size: int
    chunks: AsyncIterator[bytes] | None = None  # streamed content; or, when None, `data`
    data: bytes = b""

    @classmethod
    def of(cls, name: str, data: bytes) -> Entry:
        return cls(name, len(data), data=data)


async def archive(entries: AsyncIterator[Entry], mtime: int) -> AsyncIterator[bytes]:
    """The archive's bytes: each entry's header, content and padding, then checksums.json and the end marker.

    Holds one entry's chunk at a time (and one segment, which the caller built). An entry whose
    content does not have the size it announced is a bug, not a damaged archive: RuntimeError.
    """
    checksums = []
    written = 0
    async for entry in entries:
        yield (head := tar.header(entry.name, entry.size, mtime))
        digest = hashlib.sha256()
        size = 0
        if entry.chunks is None:
            digest.update(entry.data)
            size = len(entry.data)
            yield entry.data
        else:
            async for chunk in entry.chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        if size != entry.size:
            raise RuntimeError(f"{entry.name}: {size} bytes written, {entry.size} announced")
        yield (pad := tar.padding(size))
        written += len(head) + size + len(pad)
        checksums.append({"name": entry.name, "size": size, "sha256": digest.hexdigest()})
    last = format.dumps(checksums)
    tail = tar.header(format.CHECKSUMS, len(last), mtime) + last + tar.padding(len(last))
    yield tail + tar.end(written + len(tail))
