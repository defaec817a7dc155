"""Reading a whole archive to check it, and saying what it holds (for `soma backup verify` and `inspect`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from soma.backup import format, reader


@dataclass(frozen=True)
class Summary:
    """A verified archive: its manifest and its size in bytes."""

    manifest: dict[str, Any]
    size_bytes: int

    def line(self) -> str:
        """One line: that it is valid, what made it, and what it holds."""
        m = self.manifest
        return (
            f"ok: {self.size_bytes} bytes, made {m['created_at']} by Soma {m['soma_version']} "
            f"(format {m['format_version']}, schema {m['schema_revision']}); {format.counts_line(m['counts'])}"
        )

    def text(self) -> str:
        """The manifest for people, one fact a line."""
        m = self.manifest
        lines = [
            f"format:          {m['format']} {m['format_version']}",
            f"created at:      {m['created_at']}",
            f"soma version:    {m['soma_version']}",
            f"schema revision: {m['schema_revision']}",
            f"embedding model: {m['embedding_model']}",
            f"size:            {self.size_bytes} bytes",
        ]
        lines += [f"{kind + ':':<17}{m['counts'][kind]}" for kind in format.COUNTS]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The manifest with the archive's size."""
        return {**self.manifest, "size_bytes": self.size_bytes}


class _Counting:
    """A binary stream that counts what is read from it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data


def verify(stream: BinaryIO) -> Summary:
    """Read the whole archive through the reader, keeping nothing; a BackupInvalid subclass when it breaks a rule."""
    counting = _Counting(stream)
    manifest: dict[str, Any] = {}
    for item in reader.read(counting):  # type: ignore[arg-type]
        if isinstance(item, reader.Document) and item.kind == "manifest":
            manifest = item.value
    while counting.read(reader.READ_BYTES):  # the end marker's padding, so the size is the file's
        pass
    return Summary(manifest, counting.count)
