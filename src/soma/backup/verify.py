"""Reading a whole archive to check it, and saying what it holds (for `soma backup verify` and `inspect`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, BinaryIO

from soma.backup import format, reader, streams


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
            f"embedder:        {m['embedder']['model']} on {m['embedder']['runtime']}",
            f"size:            {self.size_bytes} bytes",
        ]
        lines += [f"{kind + ':':<17}{m['counts'][kind]}" for kind in format.COUNTS]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The manifest with the archive's size."""
        return {**self.manifest, "size_bytes": self.size_bytes}


async def verify(stream: streams.Counted) -> Summary:
    """Read the whole archive through the reader, keeping nothing; a BackupInvalid subclass when it breaks a rule."""
    manifest: dict[str, Any] = {}
    async for item in reader.read(stream):
        if isinstance(item, reader.Document) and item.kind == "manifest":
            manifest = item.value
    return Summary(manifest, await streams.read_to_end(stream))  # the end marker's padding too: the file's size


def verify_file(file: BinaryIO) -> Summary:
    """verify() for an open file, from code that is not async."""
    return asyncio.run(verify(streams.FileSource(file)))
