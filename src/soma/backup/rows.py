"""The records of the table segments: which columns each kind exports, how a row is written, how a line is checked.

What stays out on purpose: users, login sessions, API keys, setup links, the audit log and
procrastinate's tables. `sessions.owner` ("user:<id>" or "key:<id>", an id and never a name or a
secret) is exported so a restore into the same installation gives members their chats back;
docs/backup-format.md says how a restore must treat an owner it does not know.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from soma import errors
from soma.backup import format
from soma.db import tables
from soma.profiles import saved as saved_profiles
from soma.tools import saved as saved_tools
from soma.workspaces import paths
from soma.workspaces import store as workspace_store

Check = Callable[[Any], bool]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # str(uuid.UUID(…))'s form
_SHA256 = re.compile(r"[0-9a-f]{64}")
FLOAT4_MAX = 3.4028234663852886e38  # pgvector stores float4: anything larger cannot be restored
_NUMBERS = frozenset({int, float})


def _uuid(value: Any) -> bool:
    return type(value) is str and _UUID.fullmatch(value) is not None


def integer(value: Any) -> bool:
    """A whole number (not a bool) that fits PostgreSQL's bigint."""
    return type(value) is int and -(2**63) <= value < 2**63


def _int32(value: Any) -> bool:
    return type(value) is int and -(2**31) <= value < 2**31


def text(value: Any) -> bool:
    """A string."""
    return isinstance(value, str)


def _time(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _vector(value: Any) -> bool:
    """384 numbers that fit a float4 (parse_line already refused NaN and Infinity; 1e999 parses as inf)."""
    return (
        type(value) is list
        and len(value) == tables.EMBEDDING_DIMENSIONS
        and set(map(type, value)) <= _NUMBERS
        and max(map(abs, value)) <= FLOAT4_MAX
    )


def _versions(value: Any) -> bool:
    """A message's earlier versions: a list of objects."""
    return type(value) is list and all(isinstance(v, dict) for v in value)


def _size(value: Any) -> bool:
    """A file's size: a whole number of bytes, at most the largest a chat's file may hold."""
    return type(value) is int and 0 <= value <= workspace_store.MAX_FILE_BYTES


def _sha256(value: Any) -> bool:
    return type(value) is str and _SHA256.fullmatch(value) is not None


def _workspace_path(value: Any) -> bool:
    """A chat's file path in its one clean form: nothing a restore writes can name a place outside the workspace."""
    try:
        return isinstance(value, str) and paths.clean(value) == value
    except errors.InvalidPath:
        return False


def _bool(value: Any) -> bool:
    return type(value) is bool


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _one_of(*allowed: str) -> Check:
    return lambda value: value in allowed


_s, _m, _e = tables.chat_sessions, tables.messages, tables.session_events
_mem, _d, _c, _f = tables.memories, tables.knowledge_documents, tables.knowledge_chunks, tables.workspace_files
_tasks, _runs = tables.scheduled_tasks, tables.task_runs

# Per kind: the table, its columns in the order written, what each value must be, and the sort key.
SCHEMAS: dict[str, tuple[sa.Table, dict[str, Check], tuple[str, ...]]] = {
    "sessions": (
        _s,
        {
            "id": _uuid, "title": text, "created_at": _time, "updated_at": _time, "last_event_id": integer, "owner": _optional(text),
            "profile": _optional(text), "parent_session_id": _optional(_uuid), "parent_call_id": _optional(text), "depth": _int32,
        },  # fmt: skip
        ("id",),
    ),
    "messages": (
        _m,
        {
            "id": integer, "session_id": _uuid, "role": _one_of("user", "assistant"), "content": text,
            "reply_to": _optional(integer), "meta": _object, "created_at": _time, "versions": _versions,
        },  # fmt: skip
        ("id",),
    ),
    "events": (_e, {"session_id": _uuid, "id": integer, "type": text, "data": _object, "created_at": _time}, ("session_id", "id")),
    "memories": (
        _mem,
        {
            "id": integer, "content": text, "embedding": _vector, "embedding_model": text, "embedding_runtime": text,
            "source": _one_of("user", "agent"), "created_at": _time, "updated_at": _time,
        },  # fmt: skip
        ("id",),
    ),
    "documents": (
        _d,
        {
            "id": _uuid, "filename": text, "content_type": text, "size_bytes": integer, "sha256": text,
            "state": _one_of("pending", "indexing", "ready", "failed"), "error": _optional(text), "chunk_count": _int32,
            "created_at": _time, "updated_at": _time,
        },  # fmt: skip
        ("id",),
    ),
    "chunks": (
        _c,
        {
            "id": integer, "document_id": _uuid, "ordinal": _int32, "content": text, "embedding": _vector, "embedding_model": text,
            "embedding_runtime": text,
        },  # fmt: skip
        ("id",),
    ),
    # A chat's files without their bytes, which follow as `file_blobs/<sha256>` entries (one per content).
    "files": (
        _f,
        {"session_id": _uuid, "path": _workspace_path, "size": _size, "sha256": _sha256, "modified_at": _time},
        ("session_id", "path"),
    ),
    # Scheduled tasks and their runs: chat-like, so always restored. The webhook's secret is kept
    # (docs/backup-format.md says why); `session_id` names a chat of the backup, or one gone since.
    "tasks": (
        _tasks,
        {
            "id": _uuid, "owner": text, "name": text, "prompt": text, "profile": _optional(text), "schedule": _object,
            "target": _one_of("new_chat", "same_chat"), "session_id": _optional(_uuid), "missed": _one_of("skip", "run_once"),
            "paused": _bool, "webhook_url": _optional(text), "webhook_secret": _optional(text), "next_run_at": _optional(_time),
            "created_at": _time, "updated_at": _time,
        },  # fmt: skip
        ("id",),
    ),
    "task_runs": (
        _runs,
        {
            "id": integer, "task_id": _uuid, "due_at": _time, "manual": _bool, "late": _bool,
            "outcome": _one_of("running", "answered", "failed", "skipped"), "reason": _optional(text), "started_at": _optional(_time),
            "finished_at": _optional(_time), "session_id": _optional(_uuid), "message_id": _optional(integer),
            "webhook": _optional(_object), "read_at": _optional(_time),
        },  # fmt: skip
        ("id",),
    ),
}
# `tools` is None in a backup made before tool servers existed, `profiles` in one made before agent
# profiles: the restore leaves them as they are.
SETTINGS_SCHEMA: dict[str, Check] = {
    "data": _object, "version": _int32, "updated_at": _time, "tools": _optional(saved_tools.fits), "profiles": _optional(saved_profiles.fits),
}  # fmt: skip


VECTOR = "embedding"  # the one pgvector column a table may have, read as its text form
# Stands in for the vector while the rest of a line is encoded. PostgreSQL text and jsonb hold no
# NUL character, so no value read from the database encodes to this.
_VECTOR_SLOT = "\x00vector\x00"
_VECTOR_SLOT_JSON = json.dumps(_VECTOR_SLOT).encode()


def query(kind: str) -> sa.Select:
    """The rows of one kind, in the order they are written; a vector comes as pgvector's text, "[0.1,-0.2,…]"."""
    table, columns, order = SCHEMAS[kind]
    selected = (sa.cast(table.c[name], sa.Text).label(name) if name == VECTOR else table.c[name] for name in columns)
    return sa.select(*selected).order_by(*(table.c[name] for name in order))


def encode(row: Any) -> dict[str, Any]:
    """A row (a mapping) as JSON-ready values: ids and times as strings."""
    return {key: _plain(value) for key, value in row.items()}


def line(row: Any) -> bytes:
    """A row from `query` as one JSON line (no newline).

    pgvector's text form of a vector is already a JSON array of finite numbers, so it is copied
    into the line as it is: parsing 384 floats and printing them again was most of a backup's time.
    """
    record = encode(row)
    vector = record.get(VECTOR)
    if vector is None:
        return format.dumps(record)
    return format.dumps({**record, VECTOR: _VECTOR_SLOT}).replace(_VECTOR_SLOT_JSON, vector.encode(), 1)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def parse_line(
    line: bytes, where: str, schema: dict[str, Check], upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One record, checked: JSON, an object with exactly the schema's keys, each value of its type.

    `upgrade` carries a record of an older schema to this one before it is checked.
    """
    try:
        record = json.loads(line, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise errors.BackupDataInvalid(f"{where} is not JSON.") from None
    if b"\\u0000" in line and _holds_nul(record):
        raise errors.BackupDataInvalid(f"{where} holds a NUL character, which PostgreSQL cannot store.")
    if upgrade is not None and isinstance(record, dict):
        record = upgrade(record)
    check(record, where, schema)
    return record


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is in any string (key or value) of a parsed JSON value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def check(record: Any, where: str, schema: dict[str, Check]) -> None:
    """BackupDataInvalid naming the place and the key when record does not fit schema."""
    if not isinstance(record, dict) or set(record) != set(schema):
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise errors.BackupDataInvalid(f"{where} has the keys {keys}, not {sorted(schema)}.")
    for key, fits in schema.items():
        if not fits(record[key]):
            raise errors.BackupDataInvalid(f"{where} has an invalid {key}: {str(record[key])[:80]!r}.")
