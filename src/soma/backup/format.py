"""The archive's format: entry names and their order, the version, the size limits, and the manifest.

docs/backup-format.md describes it for people; this module is what both the writer and the reader obey.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


import soma
from soma import errors
from soma.backup import upgrade
from soma.db import schema
from soma.embeddings import embedder
from soma.workspaces import store as workspace_store

FORMAT = "soma-backup"
FORMAT_VERSION = 1  # raise it whenever an entry or a record changes shape; readers refuse newer versions
ROOT = "soma-backup/"
MANIFEST = ROOT + "manifest.json"
SETTINGS = ROOT + "settings.json"
CHECKSUMS = ROOT + "checksums.json"
# Table data, in archive order: each as JSON Lines in numbered segments, `<kind>/000001.jsonl`, ….
TABLES = ("sessions", "messages", "events", "memories", "documents", "chunks", "files", "tasks", "task_runs")
BLOBS = "blobs"  # `blobs/<sha256>`: the bytes of one knowledge file, in ascending sha256 order
FILE_BLOBS = "file_blobs"  # `file_blobs/<sha256>`: the bytes of chats' files (workspaces), each content once, in ascending sha256 order
COUNTS = (*TABLES, BLOBS, FILE_BLOBS)  # what the manifest counts

MiB = 1024 * 1024
SEGMENT_BYTES = 4 * MiB  # a segment ends before the row that would take it past this
MAX_ROW_BYTES = 4 * MiB  # one JSON line; far above any row Soma's own limits allow
MAX_SEGMENT_BYTES = SEGMENT_BYTES + MAX_ROW_BYTES
MAX_BLOB_BYTES = 1024 * MiB  # the most the upload_max_bytes setting allows
MAX_FILE_BLOB_BYTES = workspace_store.MAX_FILE_BYTES  # the most one file of a chat holds
MAX_DOCUMENT_BYTES = 1 * MiB  # manifest.json, settings.json
MAX_CHECKSUMS_BYTES = 64 * MiB  # about 450,000 entries
MAX_ARCHIVE_BYTES = 256 * 1024 * MiB  # 256 GiB in all: a reader stops before staging more

_SEGMENT = re.compile(r"(?P<kind>[a-z_]+)/(?P<number>\d{6})\.jsonl")
_BLOB = re.compile(r"(?P<kind>blobs|file_blobs)/(?P<sha256>[0-9a-f]{64})")


@dataclass(frozen=True)
class Name:
    """A known entry name, parsed: its rank in the archive order, its kind and its key (segment number or sha256)."""

    rank: int
    kind: str
    key: str = ""

    @property
    def limit(self) -> int:
        """The most bytes an entry of this kind may hold."""
        if self.kind in TABLES:
            return MAX_SEGMENT_BYTES
        if self.kind == BLOBS:
            return MAX_BLOB_BYTES
        if self.kind == FILE_BLOBS:
            return MAX_FILE_BLOB_BYTES
        return MAX_CHECKSUMS_BYTES if self.kind == "checksums" else MAX_DOCUMENT_BYTES


def segment_name(kind: str, number: int) -> str:
    """`soma-backup/<kind>/<number, six digits>.jsonl`; segments are numbered from 1."""
    return f"{ROOT}{kind}/{number:06d}.jsonl"


def blob_name(sha256: str, kind: str = BLOBS) -> str:
    """`soma-backup/blobs/<sha256>` (a knowledge file's bytes), or under `file_blobs/` (a chat file's)."""
    return f"{ROOT}{kind}/{sha256}"


def parse_name(name: str) -> Name | None:
    """The entry this name denotes, or None when no Soma backup holds such a name."""
    fixed = {MANIFEST: Name(0, "manifest"), SETTINGS: Name(1, "settings"), CHECKSUMS: Name(4 + len(TABLES), "checksums")}
    if name in fixed:
        return fixed[name]
    if not name.startswith(ROOT):
        return None
    rest = name[len(ROOT) :]
    if (segment := _SEGMENT.fullmatch(rest)) and segment["kind"] in TABLES and int(segment["number"]) > 0:
        return Name(2 + TABLES.index(segment["kind"]), segment["kind"], segment["number"])
    if blob := _BLOB.fullmatch(rest):
        return Name(2 + len(TABLES) + (blob["kind"] == FILE_BLOBS), blob["kind"], blob["sha256"])
    return None


def counts_line(counts: dict[str, int]) -> str:
    """What an archive holds, in a few words: "3 sessions, 12 messages, …"."""
    return ", ".join(f"{counts[kind]} {kind}" for kind in COUNTS)


def manifest(schema_revision: str, created_at: datetime.datetime, counts: dict[str, int]) -> dict[str, Any]:
    """The manifest of a backup made now by this version of Soma."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "soma_version": soma.__version__,
        "schema_revision": schema_revision,
        "created_at": created_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "embedder": dict(embedder.IDENTITY),  # which embedder made its vectors
        "counts": {kind: counts[kind] for kind in COUNTS},
    }


def known_revisions() -> frozenset[str]:
    """Every schema revision a backup this version of Soma restores can have been made at."""
    return upgrade.restorable(frozenset(schema.parents()))


def parse_manifest(data: bytes, revisions: Collection[str]) -> dict[str, Any]:
    """The manifest, checked in the order that gives the clearest refusal: format, version, schema, then shape."""
    try:
        found = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise errors.NotABackup(f"{MANIFEST} is not JSON.") from None
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        named = found.get("format") if isinstance(found, dict) else None
        raise errors.NotABackup(f"{MANIFEST} names the format {named!r}, not {FORMAT!r}.")
    version = found.get("format_version")
    if not _is_int(version) or version < 1:
        raise errors.BackupDataInvalid(f"{MANIFEST} has the format version {version!r}, not a whole number from 1.")
    made_by = found.get("soma_version")
    if version > FORMAT_VERSION:
        raise errors.BackupFormatNewer(
            f"Soma {made_by} wrote this backup in format version {version}; Soma {soma.__version__} reads versions up to {FORMAT_VERSION}."
        )
    revision = found.get("schema_revision")
    if isinstance(revision, str) and revision < upgrade.FIRST_REVISION:
        raise errors.BackupDataInvalid(
            f"{MANIFEST} names the schema revision {revision!r}, older than any Soma made backups at ({upgrade.FIRST_REVISION!r})."
        )
    if revision not in revisions:
        raise errors.BackupSchemaNewer(
            f"Soma {made_by} made this backup from schema revision {revision!r}; Soma {soma.__version__} knows revisions up to {schema.head()!r}."
        )
    change = upgrade.record(upgrade.steps(revision), "manifest")  # an older backup's counts lack what came since
    found = change(found) if change is not None else found
    _check_manifest_shape(found)
    return found


def _check_manifest_shape(found: dict[str, Any]) -> None:
    expected = {"format", "format_version", "soma_version", "schema_revision", "created_at", "embedder", "counts"}
    if set(found) != expected:
        raise errors.BackupDataInvalid(f"{MANIFEST} has the keys {sorted(found)}, not {sorted(expected)}.")
    for key in ("soma_version", "created_at"):
        if not isinstance(found[key], str):
            raise errors.BackupDataInvalid(f"{MANIFEST} has {key}={found[key]!r}, not a string.")
    made_by = found["embedder"]
    if not isinstance(made_by, dict) or set(made_by) != {"model", "runtime"} or not all(isinstance(v, str) for v in made_by.values()):
        raise errors.BackupDataInvalid(f"{MANIFEST} has embedder={made_by!r}, not {{\"model\": …, \"runtime\": …}} strings.")
    try:
        datetime.datetime.fromisoformat(found["created_at"])
    except ValueError:
        raise errors.BackupDataInvalid(f"{MANIFEST} has created_at={found['created_at']!r}, not an ISO 8601 time.") from None
    counts = found["counts"]
    if not isinstance(counts, dict) or set(counts) != set(COUNTS) or not all(_is_int(n) and n >= 0 for n in counts.values()):
        raise errors.BackupDataInvalid(f"{MANIFEST} has counts={counts!r}, not a count for each of {', '.join(COUNTS)}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as every JSON entry and line of an archive is written."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
