"""Opening an Agent Zero backup zip safely: limits, entry names and links checked before anything is read."""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from soma import errors

ZIP_MAGIC = b"PK\x03\x04"
MAX_ENTRIES = 200_000  # Agent Zero backs up usr/ file by file; far above a real one
MAX_ENTRY_BYTES = 1 << 30  # 1 GiB uncompressed, a large memory index or PDF
MAX_TOTAL_BYTES = 16 << 30  # 16 GiB uncompressed in all
MAX_RATIO = 100  # uncompressed / compressed; text deflates ~10:1, a bomb ~1000:1
RATIO_FLOOR = 1 << 20  # bytes; smaller entries are too small to be a bomb
MAX_METADATA_BYTES = 64 << 20  # metadata.json lists every file


@dataclass
class Archive:
    """An opened, checked Agent Zero zip: its metadata, its root inside the zip, and its readable entries."""

    zip: zipfile.ZipFile
    metadata: dict[str, Any]
    root: str  # e.g. "a0/": Agent Zero's folder without the leading /
    names: list[str]  # entries under root, relative to it (e.g. "usr/settings.json")
    outside: list[str] = field(default_factory=list)  # entries outside root: never read

    def read(self, name: str, limit: int = MAX_ENTRY_BYTES) -> bytes:
        """The entry's bytes (name relative to root); AgentZeroArchiveBroken when its data is damaged."""
        try:
            with self.zip.open(self.root + name) as entry:
                data = entry.read(limit + 1)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise errors.AgentZeroArchiveBroken(f"Entry {self.root + name!r} is damaged ({exc}).") from None
        if len(data) > limit:
            raise errors.AgentZeroArchiveRefused(f"Entry {self.root + name!r} is over {limit} bytes.")
        return data

    def chunks(self, name: str, size: int) -> Iterator[bytes]:
        """The entry's bytes, size at a time (an entry may be up to MAX_ENTRY_BYTES); AgentZeroArchiveBroken when damaged."""
        try:
            with self.zip.open(self.root + name) as entry:
                while chunk := entry.read(size):
                    yield chunk
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise errors.AgentZeroArchiveBroken(f"Entry {self.root + name!r} is damaged ({exc}).") from None


def looks_like_zip(head: bytes) -> bool:
    """Whether a file starting with head is a zip (then it can only be an Agent Zero backup, not a Soma one)."""
    return head.startswith(ZIP_MAGIC)


def open_archive(file: BinaryIO) -> Archive:
    """Open and check the zip; AgentZeroArchiveRefused or AgentZeroArchiveBroken naming the problem."""
    try:
        zf = zipfile.ZipFile(file)
        infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise errors.AgentZeroArchiveBroken(f"The zip's directory cannot be read ({exc}).") from None
    _check_limits(infos)
    for info in infos:
        _check_entry(info)
    metadata = _metadata(zf)
    root = _root(metadata)
    names, outside = [], []
    for info in infos:
        if info.is_dir() or info.filename == "metadata.json":
            continue
        if info.filename.startswith(root):
            names.append(info.filename[len(root):])
        else:
            outside.append(info.filename)
    return Archive(zf, metadata, root, names, outside)


def _check_limits(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ENTRIES:
        raise errors.AgentZeroArchiveRefused(f"The zip has {len(infos)} entries, over the limit of {MAX_ENTRIES}.")
    total = 0
    for info in infos:
        if info.file_size > MAX_ENTRY_BYTES:
            raise errors.AgentZeroArchiveRefused(f"Entry {info.filename!r} unpacks to {info.file_size} bytes, over {MAX_ENTRY_BYTES}.")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise errors.AgentZeroArchiveRefused(
                f"Entry {info.filename!r} unpacks {info.compress_size} bytes into {info.file_size} "
                f"(over {MAX_RATIO} times): a zip bomb."
            )
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise errors.AgentZeroArchiveRefused(f"The zip unpacks to {total} bytes, over {MAX_TOTAL_BYTES}.")


def _check_entry(info: zipfile.ZipInfo) -> None:
    """Refuse names that could leave a folder when unpacked, and links (Agent Zero stores regular files only)."""
    name = info.filename
    path = PurePosixPath(name)
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise errors.AgentZeroArchiveRefused(f"Entry {name!r} has an absolute path.")
    if ".." in path.parts:
        raise errors.AgentZeroArchiveRefused(f"Entry {name!r} climbs out of its folder with '..'.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise errors.AgentZeroArchiveRefused(f"Entry {name!r} is a symbolic link.")


def _metadata(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo("metadata.json")
    except KeyError:
        raise errors.NotABackup("This zip has no metadata.json at its root, so it is not an Agent Zero backup either.") from None
    if info.file_size > MAX_METADATA_BYTES:
        raise errors.AgentZeroArchiveRefused(f"metadata.json is {info.file_size} bytes, over {MAX_METADATA_BYTES}.")
    try:
        metadata = json.loads(zf.read(info))
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise errors.AgentZeroArchiveBroken(f"metadata.json is damaged ({exc}).") from None
    except ValueError as exc:
        raise errors.AgentZeroArchiveBroken(f"metadata.json is not JSON ({exc}).") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("agent_zero_version"), str):
        raise errors.NotABackup("This zip's metadata.json has no agent_zero_version, so it is not an Agent Zero backup either.")
    return metadata


def _root(metadata: dict[str, Any]) -> str:
    """Agent Zero's folder as stored in the zip ("/a0" → "a0/"); /a0 when the metadata does not say."""
    env = metadata.get("environment_info")
    raw = env.get("agent_zero_root") if isinstance(env, dict) else None
    root = (raw if isinstance(raw, str) and raw.strip("/") else "/a0").strip("/")
    if ".." in PurePosixPath(root).parts:
        raise errors.AgentZeroArchiveRefused(f"metadata.json names Agent Zero's folder {raw!r}, which climbs out with '..'.")
    return root + "/"
