"""The few parts of POSIX (ustar) tar that Soma's archives use: headers of regular files, padding, the end.

The writer makes headers with `tarfile`, so any tar tool reads an archive. The reader parses
headers itself instead of using `tarfile`, because `tarfile` reads a PAX or GNU long-name header's
whole body into memory before a caller sees it: a hostile archive could exhaust memory that way.
Here every header is one 512-byte block, and anything but a regular file is refused by its type.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

BLOCK = 512
RECORD = 20 * BLOCK  # tar pads the end of an archive to whole records, as tarfile does
REGULAR = (b"0", b"\0")
TYPE_NAMES = {
    b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
    b"5": "a directory", b"6": "a FIFO", b"7": "a contiguous file", b"x": "a PAX extended header",
    b"g": "a PAX global header", b"L": "a GNU long name", b"K": "a GNU long link name", b"S": "a GNU sparse file",
}  # fmt: skip


def header(name: str, size: int, mtime: int) -> bytes:
    """The ustar header of a regular file, readable by every tar."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o644, tarfile.REGTYPE
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def padding(size: int) -> bytes:
    """The zeros that fill an entry of this size to a whole block."""
    return b"\0" * (-size % BLOCK)


def end(written: int) -> bytes:
    """Two zero blocks, then zeros to the end of the record, after `written` bytes of archive."""
    marker = 2 * BLOCK
    return b"\0" * (marker + (-(written + marker) % RECORD))


@dataclass(frozen=True)
class Header:
    """A parsed header: the entry's name, size and type flag."""

    name: str
    size: int
    type: bytes

    @property
    def regular(self) -> bool:
        return self.type in REGULAR

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"an entry of type {self.type!r}")


class BadHeader(Exception):
    """The block is not a valid tar header (the reader decides what that means where it occurs)."""


def parse(block: bytes) -> Header | None:
    """The header in one 512-byte block; None for a zero block (the end of the archive); BadHeader otherwise."""
    if block == bytes(BLOCK):
        return None
    try:
        stored = int(block[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
    except ValueError:
        raise BadHeader("its checksum field is not a number") from None
    if stored != sum(block[:148]) + 8 * 32 + sum(block[156:]):
        raise BadHeader("its checksum does not match")
    name, prefix = _text(block[0:100]), _text(block[345:500])
    size_field = block[124:136]
    if size_field[:1] in (b"\x80", b"\xff"):
        raise BadHeader("its size uses the base-256 encoding, which Soma never writes")
    try:
        size = int(size_field.replace(b"\0", b" ").strip() or b"0", 8)
    except ValueError:
        raise BadHeader("its size field is not a number") from None
    return Header(f"{prefix}/{name}" if prefix else name, size, block[156:157])


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "replace")
