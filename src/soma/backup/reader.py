"""Reading an archive back as a stream, enforcing every rule of docs/backup-format.md on the way.

`read()` yields the manifest, the settings, each segment's records and each blob as they arrive,
holding at most one segment in memory. It reads from any `Source` (an async `read(size)`), so a
restore can stage an upload while it streams in (soma.backup.streams has the sources). Nothing it yields is trustworthy until the generator has
finished without an error: checksums.json comes last, so the sizes and hashes, the manifest's
counts and the blobs' match with the documents are settled only then. A restore stages what it
reads and applies nothing before that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from soma import errors
from soma.backup import format, rows, tar, upgrade

READ_BYTES = 256 * 1024  # a blob is handed over this many bytes at a time


class Source(Protocol):
    """Where an archive's bytes come from: fewer bytes than asked only at the end."""

    async def read(self, size: int) -> bytes: ...


@dataclass
class Document:
    """A JSON entry: the manifest (kind `manifest`) or the settings (kind `settings`)."""

    kind: str
    value: dict[str, Any]


@dataclass
class Segment:
    """The records of one segment of a table, each checked against its kind's schema.

    `lines` is the segment as this Soma would write it (one JSON object a line): the archive's
    own bytes when its schema is this Soma's, else the upgraded records written again.
    """

    kind: str
    records: list[dict[str, Any]]
    lines: bytes


@dataclass
class Blob:
    """One file's bytes, a knowledge file's or (kind `file_blobs`) a chat's: iterate `chunks` to the end before asking the reader for more."""

    sha256: str
    size: int
    chunks: AsyncIterator[bytes]
    kind: str = format.BLOBS


Item = Document | Segment | Blob


@dataclass
class _Seen:
    """What the reader has met so far, for the checks that need the whole archive."""

    entries: list[dict[str, Any]] = field(default_factory=list)  # name, size, sha256 in archive order
    names: set[str] = field(default_factory=set)
    total: int = 0
    last: format.Name | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(format.COUNTS, 0))
    session_ids: set[str] = field(default_factory=set)
    parents: dict[str, str] = field(default_factory=dict)  # a child chat's parent -> where the first child naming it is
    task_ids: set[str] = field(default_factory=set)
    document_ids: set[str] = field(default_factory=set)
    keys: set[tuple[Any, ...]] = field(default_factory=set)  # every other row's unique keys, by kind
    documents: dict[str, tuple[str, int]] = field(default_factory=dict)  # sha256 -> (filename, size)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # sha256 -> (a chat's file path, size)
    manifest: dict[str, Any] = field(default_factory=dict)


async def read(stream: Source, revisions: Collection[str] | None = None) -> AsyncIterator[Item]:
    """Every item of the archive on stream; a BackupInvalid subclass names the first rule broken.

    `revisions` are the schema revisions this Soma knows (format.known_revisions() when None).
    """
    known = format.known_revisions() if revisions is None else revisions
    seen = _Seen()
    while True:
        header = await _next_header(stream, seen)
        if header is None:
            break
        name = _check_header(header, seen)
        if name.kind in (format.BLOBS, format.FILE_BLOBS):
            blob = Blob(name.key, header.size, _blob(stream, header, name, seen), name.kind)
            yield blob
            async for _ in blob.chunks:  # what the consumer left unread
                pass
            await _skip(stream, tar.padding(header.size), header.name)
            continue
        data = await _read(stream, header.size, header.name)
        await _skip(stream, tar.padding(header.size), header.name)
        seen.entries.append({"name": header.name, "size": header.size, "sha256": hashlib.sha256(data).hexdigest()})
        if name.kind == "checksums":
            _check_checksums(data, seen)
            continue
        yield _parse(name, header.name, data, seen, known)
    _check_whole(seen)


async def _next_header(stream: Source, seen: _Seen) -> tar.Header | None:
    """The next entry's header; None at the end marker (only after checksums.json)."""
    block = await _read_up_to(stream, tar.BLOCK)
    after = f"after {seen.entries[-1]['name']}" if seen.entries else "at its start"
    if len(block) < tar.BLOCK:
        if not seen.entries and not block:
            raise errors.NotABackup("The file is empty.")
        if not seen.entries and seen.last is None:
            raise errors.NotABackup("The file is too short to be a tar archive.")
        if seen.last is not None and seen.last.kind == "checksums":
            raise errors.BackupTruncated("The archive has no end marker after checksums.json.")
        raise errors.BackupTruncated(f"The archive ends {after}, before {format.CHECKSUMS}.")
    try:
        header = tar.parse(block)
    except tar.BadHeader as exc:
        if seen.last is None:
            raise errors.NotABackup(f"The file is not a tar archive: {exc}.") from None
        raise errors.BackupTruncated(f"The tar header {after} is damaged: {exc}.") from None
    if header is None and (seen.last is None or seen.last.kind != "checksums"):
        if seen.last is None:
            raise errors.NotABackup("The tar archive is empty.")
        raise errors.BackupTruncated(f"The archive ends {after}, before {format.CHECKSUMS}.")
    return header


def _check_header(header: tar.Header, seen: _Seen) -> format.Name:
    """The entry's parsed name, once its type, path, name, place and size are allowed."""
    shown = repr(header.name)
    if not header.regular:
        raise errors.BackupEntryUnsafe(f"The entry {shown} is {header.type_name}.")
    parts = header.name.split("/")
    if header.name.startswith("/") or ".." in parts or "\\" in header.name:
        raise errors.BackupEntryUnsafe(f"The entry {shown} points outside {format.ROOT}.")
    name = format.parse_name(header.name)
    if seen.last is None and name != format.parse_name(format.MANIFEST):
        raise errors.NotABackup(f"The archive starts with {shown}, not {format.MANIFEST}.")
    if name is None:
        raise errors.BackupEntryUnexpected(f"The entry {shown} is not one a Soma backup holds.")
    if header.name in seen.names:
        raise errors.BackupEntryUnexpected(f"The entry {shown} occurs twice.")
    _check_order(name, shown, seen.last)
    if header.size > name.limit:
        raise errors.BackupTooLarge(f"The entry {shown} has {header.size} bytes; at most {name.limit} are allowed.")
    seen.total += header.size
    if seen.total > format.MAX_ARCHIVE_BYTES:
        raise errors.BackupTooLarge(f"The archive holds more than {format.MAX_ARCHIVE_BYTES} bytes.")
    seen.names.add(header.name)
    seen.last = name
    return name


def _check_order(name: format.Name, shown: str, last: format.Name | None) -> None:
    if last is None:
        return
    if last.kind == "checksums":
        raise errors.BackupEntryUnexpected(f"The entry {shown} follows {format.CHECKSUMS}, which must be last.")
    if name.rank < last.rank:
        raise errors.BackupEntryUnexpected(f"The entry {shown} is out of order.")
    if name.kind in format.TABLES:
        previous = int(last.key) if last.kind == name.kind else 0
        if int(name.key) != previous + 1:
            raise errors.BackupEntryUnexpected(f"The entry {shown} is out of order: segment {previous + 1} was expected.")
    if name.kind in (format.BLOBS, format.FILE_BLOBS) and last.kind == name.kind and name.key <= last.key:
        raise errors.BackupEntryUnexpected(f"The entry {shown} is out of order: {name.kind} come in ascending sha256 order.")


def _parse(name: format.Name, entry: str, data: bytes, seen: _Seen, revisions: Collection[str]) -> Item:
    if name.kind == "manifest":
        seen.manifest = format.parse_manifest(data, revisions)
        return Document("manifest", seen.manifest)
    steps = upgrade.steps(seen.manifest["schema_revision"])
    if name.kind == "settings":
        return Document("settings", rows.parse_line(data, entry, rows.SETTINGS_SCHEMA, upgrade.record(steps, "settings")))
    if not data.endswith(b"\n"):
        raise errors.BackupDataInvalid(f"{entry} does not end with a line break.")
    schema = rows.SCHEMAS[name.kind][1]
    change = upgrade.record(steps, name.kind)
    lines = data[:-1].split(b"\n")
    records = [rows.parse_line(line, f"{entry} line {n}", schema, change) for n, line in enumerate(lines, 1)]
    for n, record in enumerate(records, 1):
        _check_reference(name.kind, record, f"{entry} line {n}", seen)
    seen.counts[name.kind] += len(records)
    if change is not None:  # the archive's lines have an older shape: write the upgraded records
        data = b"".join(format.dumps(record) + b"\n" for record in records)
    return Segment(name.kind, records, data)


def _check_reference(kind: str, record: dict[str, Any], where: str, seen: _Seen) -> None:
    """Rows are unique and point only at rows written before them, as the tables' constraints demand.

    A backup that broke a constraint would fail only when applied: it is refused here instead.
    """
    for key in _UNIQUE[kind]:
        value = (kind, key, *(record[k] for k in key))
        if None in value:
            continue  # NULLs are never equal: many messages reply to nothing
        if value in seen.keys:
            raise errors.BackupDataInvalid(f"{where} repeats the {'/'.join(key)} of an earlier {kind} record.")
        seen.keys.add(value)
    if kind == "sessions":
        seen.session_ids.add(record["id"])
        if record["parent_session_id"] is not None:  # sessions come in id order: a parent may follow its child (checked at the end)
            seen.parents.setdefault(record["parent_session_id"], where)
    elif kind in ("messages", "events", "files") and record["session_id"] not in seen.session_ids:
        raise errors.BackupDataInvalid(f"{where} belongs to session {record['session_id']}, which the backup lacks.")
    if kind == "messages" and record["reply_to"] is not None and (kind, ("id",), record["reply_to"]) not in seen.keys:
        raise errors.BackupDataInvalid(f"{where} replies to message {record['reply_to']}, which the backup lacks before it.")
    elif kind == "documents":
        if record["sha256"] in seen.documents:
            raise errors.BackupDataInvalid(f"{where} repeats the file {record['sha256']} of another document.")
        seen.document_ids.add(record["id"])
        seen.documents[record["sha256"]] = (record["filename"], record["size_bytes"])
    elif kind == "chunks" and record["document_id"] not in seen.document_ids:
        raise errors.BackupDataInvalid(f"{where} belongs to document {record['document_id']}, which the backup lacks.")
    elif kind == "tasks":
        seen.task_ids.add(record["id"])
    elif kind == "task_runs" and record["task_id"] not in seen.task_ids:
        raise errors.BackupDataInvalid(f"{where} is a run of task {record['task_id']}, which the backup lacks.")
    if kind == "files":
        known = seen.files.setdefault(record["sha256"], (record["path"], record["size"]))
        if known[1] != record["size"]:
            raise errors.BackupDataInvalid(f"{where} gives the content {record['sha256']} {record['size']} bytes; {known[0]!r} gave it {known[1]}.")


# The unique keys of each kind's table (its primary key and unique constraints).
_UNIQUE: dict[str, tuple[tuple[str, ...], ...]] = {
    "sessions": (("id",), ("parent_session_id", "parent_call_id")),
    "messages": (("id",), ("reply_to",)),
    "events": (("session_id", "id"),),
    "memories": (("id",),),
    "documents": (("id",),),
    "chunks": (("id",), ("document_id", "ordinal")),
    "files": (("session_id", "path"),),
    "tasks": (("id",),),
    "task_runs": (("id",), ("task_id", "due_at")),
}


async def _blob(stream: Source, header: tar.Header, name: format.Name, seen: _Seen) -> AsyncIterator[bytes]:
    """The blob's bytes, hashed on the way; its hash must be its name and a document (or a chat's file) must use it."""
    users, what = (seen.documents, "document") if name.kind == format.BLOBS else (seen.files, "chat's file")
    user = users.get(name.key)
    if user is None:
        raise errors.BackupBlobsMismatch(f"{header.name} is a file that no {what} of the backup uses.")
    if user[1] != header.size:
        raise errors.BackupBlobsMismatch(f"{header.name} has {header.size} bytes; its {what} {user[0]!r} says {user[1]}.")
    digest = hashlib.sha256()
    left = header.size
    while left:
        chunk = await _read(stream, min(left, READ_BYTES), header.name)
        digest.update(chunk)
        left -= len(chunk)
        yield chunk
    if digest.hexdigest() != name.key:
        raise errors.BackupChecksumMismatch(f"{header.name} has the SHA-256 {digest.hexdigest()}.")
    seen.entries.append({"name": header.name, "size": header.size, "sha256": name.key})
    seen.counts[name.kind] += 1


def _check_checksums(data: bytes, seen: _Seen) -> None:
    """checksums.json lists every entry before it, in order, with the size and hash found."""
    listed = _checksum_list(data)
    found = seen.entries[:-1]  # checksums.json itself is not listed
    for expected, actual in zip(listed, found):
        if expected["name"] != actual["name"]:
            raise errors.BackupEntryUnexpected(f"{format.CHECKSUMS} lists {expected['name']!r} where the archive holds {actual['name']!r}.")
        if expected["size"] != actual["size"]:
            raise errors.BackupChecksumMismatch(f"{actual['name']} has {actual['size']} bytes, but {format.CHECKSUMS} says {expected['size']}.")
        if expected["sha256"] != actual["sha256"]:
            raise errors.BackupChecksumMismatch(f"{actual['name']} has the SHA-256 {actual['sha256']}, but {format.CHECKSUMS} says {expected['sha256']}.")
    if len(listed) > len(found):
        raise errors.BackupEntryUnexpected(f"{format.CHECKSUMS} lists {listed[len(found)]['name']!r}, which the archive lacks.")
    if len(found) > len(listed):
        raise errors.BackupEntryUnexpected(f"{format.CHECKSUMS} does not list {found[len(listed)]['name']!r}.")


def _checksum_list(data: bytes) -> list[dict[str, Any]]:
    try:
        listed = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise errors.BackupDataInvalid(f"{format.CHECKSUMS} is not JSON.") from None
    if not isinstance(listed, list):
        raise errors.BackupDataInvalid(f"{format.CHECKSUMS} is not a list.")
    schema = {"name": rows.text, "size": rows.integer, "sha256": rows.text}
    for n, record in enumerate(listed, 1):
        rows.check(record, f"{format.CHECKSUMS} item {n}", schema)
    return listed


def _check_whole(seen: _Seen) -> None:
    """Once all is read: every child chat has its parent, every document and chat's file its blob, and the manifest counts what the archive holds."""
    names = {entry["name"] for entry in seen.entries}
    for sha256, (filename, _size) in seen.documents.items():
        if format.blob_name(sha256) not in names:
            raise errors.BackupBlobsMismatch(f"The document {filename!r} has no {format.blob_name(sha256)} entry.")
    for sha256, (path, _size) in seen.files.items():
        if format.blob_name(sha256, format.FILE_BLOBS) not in names:
            raise errors.BackupBlobsMismatch(f"The chat's file {path!r} has no {format.blob_name(sha256, format.FILE_BLOBS)} entry.")
    for parent, where in seen.parents.items():
        if parent not in seen.session_ids:
            raise errors.BackupDataInvalid(f"{where} is a child of session {parent}, which the backup lacks.")
    for kind in format.COUNTS:
        said, found = seen.manifest["counts"][kind], seen.counts[kind]
        if said != found:
            raise errors.BackupCountsWrong(f"{format.MANIFEST} counts {said} {kind}, but the backup holds {found}.")


async def _read(stream: Source, size: int, entry: str) -> bytes:
    """Exactly size bytes (size is bounded by the entry's limit), or BackupTruncated."""
    data = await _read_up_to(stream, size)
    if len(data) < size:
        raise errors.BackupTruncated(f"The archive ends inside {entry}.")
    return data


async def _read_up_to(stream: Source, size: int) -> bytes:
    """size bytes, or fewer only where the stream ends."""
    parts = []
    left = size
    while left:
        part = await stream.read(min(left, READ_BYTES))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


async def _skip(stream: Source, padding: bytes, entry: str) -> None:
    if padding and len(await _read_up_to(stream, len(padding))) < len(padding):
        raise errors.BackupTruncated(f"The archive ends inside {entry}.")
