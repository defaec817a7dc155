"""A run's workspace on its way into the jail and back: records written for the jail's init, and read back as untrusted.

The jail's init (soma.sandbox.inside) shares its uid with the code it ran, so what it sends back is
whatever that code wanted sent. It is read here allowing only what a workspace may hold: paths that
pass protocol.path_problem, each named once, at most protocol.MAX_FILES of them, and no more bytes
in all than the workspace's quota; a status line of bounded length. Anything else ends the reading
with Refused, naming the offence, and nothing of it is kept. The service never looks at the jail's
file system itself, so a symlink there points at nothing the service would follow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from soma.sandbox import inside, protocol

HEADER = inside.HEADER
STATUS_MAX_BYTES = 16 * 1024  # the init's status line is a few hundred bytes; its error text is cut at 2,000
CHUNK = 1024 * 1024  # bytes read at a time from the channel


class Refused(Exception):
    """The jail sent back something no workspace holds; `reason` is the result's reason for it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Returned:
    """What the jail sent back: the files that differ from those sent, those gone, and the init's status."""

    changed: list[tuple[str, bytes]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)


def records(files: list[tuple[str, bytes]]) -> Iterator[bytes]:
    """The chat's files as the init reads them from its stdin, ending with the empty record."""
    for path, data in files:
        encoded = path.encode()
        yield HEADER.pack(len(encoded), len(data)) + encoded
        yield data
    yield HEADER.pack(0, 0)


async def read_back(channel: asyncio.StreamReader, sent: list[tuple[str, bytes]], quota: int) -> Returned:
    """Read the workspace and the status from the init's channel; Refused when it breaks a rule."""
    before = {path: hashlib.sha256(data).digest() for path, data in sent}
    returned = Returned()
    seen: set[str] = set()
    total = 0
    while True:
        length, size = HEADER.unpack(await _exactly(channel, HEADER.size))
        if not length:
            break
        if length > protocol.MAX_PATH_BYTES:
            raise Refused("failed", f"The jail sent back a path of {length} bytes.")
        try:
            path = (await _exactly(channel, length)).decode()
        except UnicodeDecodeError:
            raise Refused("failed", "The jail sent back a path that is not UTF-8.") from None
        problem = protocol.path_problem(path)
        if problem or path in seen:
            raise Refused("failed", f"The jail sent back the path {path!r}, which {problem or 'came twice'}.")
        seen.add(path)
        total += size
        if len(seen) > protocol.MAX_FILES:
            raise Refused("workspace_full", f"The workspace holds more than {protocol.MAX_FILES} files; none was kept.")
        if total > quota:
            raise Refused("workspace_full", f"The workspace holds more than its {quota // protocol.MiB} MiB; no file was kept.")
        data, digest = await _file(channel, size)
        if before.get(path) != digest:
            returned.changed.append((path, data))
    returned.deleted = sorted(set(before) - seen)
    returned.status = await _status(channel)
    return returned


async def _file(channel: asyncio.StreamReader, size: int) -> tuple[bytes, bytes]:
    digest = hashlib.sha256()
    parts = []
    while size:
        part = await _exactly(channel, min(CHUNK, size))
        digest.update(part)
        parts.append(part)
        size -= len(part)
    return b"".join(parts), digest.digest()


async def _status(channel: asyncio.StreamReader) -> dict:
    try:
        line = await channel.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise Refused("failed", "The jail's status line is too long.") from None
    except asyncio.IncompleteReadError:
        raise Refused("failed", "The jail ended before it sent its status.") from None
    try:
        status = json.loads(line)
    except ValueError:
        raise Refused("failed", "The jail's status line is not JSON.") from None
    if not isinstance(status, dict):
        raise Refused("failed", "The jail's status line is not a JSON object.")
    return status


async def _exactly(channel: asyncio.StreamReader, size: int) -> bytes:
    try:
        return await channel.readexactly(size)
    except asyncio.IncompleteReadError:
        raise Refused("failed", "The jail ended before it sent the whole workspace back.") from None
