"""A chat's files in PostgreSQL: list, read, write and delete them, within the chat's limits, all or nothing.

Every write goes through `apply`: it checks every path and size first, then takes the chat's
workspace lock (an advisory lock for the transaction, beside a KEY SHARE lock on the chat's row, so
a chat deleted meanwhile waits or is found gone), then checks the limits against what is stored
and writes. Nothing is written when a check fails; a failure after the first write leaves the
caller's transaction to roll back. A change that leaves the workspace no larger is always allowed,
so a chat over a lowered `workspace_max_mb` can still shrink.

A path is always in paths.clean's form. Callers check who may touch the chat; this module only
keeps the chat's files consistent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.db import engine as db_engine
from soma.db import tables
from soma.settings.store import AgentSettings
from soma.workspaces import paths

MiB = 1024 * 1024
MAX_FILE_BYTES = 256 * MiB  # one file: a row is written and handed to the sandbox whole
MAX_FILES = 10_000  # files in one chat
PIECE_BYTES = 1 * MiB  # a download or a backup reads a file this much at a time

_w = tables.workspace_files
_DESCRIBED = (_w.c.path, _w.c.size, _w.c.modified_at, _w.c.sha256)
_BY_PATH = sa.text('path COLLATE "C"')  # code point order, as Python sorts strings, whatever the database's locale

# The chat's row shared against deletion, and the chat's workspace lock, in one round trip; no row: no chat.
_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended('soma.workspace:' || CAST(id AS text), 0)) "
    "FROM chat_sessions WHERE id = :session_id FOR KEY SHARE"
)


def max_bytes(agent: AgentSettings) -> int:
    """The most one chat's files may hold, in bytes, under these settings (`workspace_max_mb`)."""
    return agent.workspace_max_mb * MiB


def _described(row: Any) -> dict[str, Any]:
    return {"path": row.path, "size": row.size, "modified_at": row.modified_at.isoformat(), "sha256": row.sha256}


def _this(session_id: uuid.UUID, path: str) -> sa.ColumnElement[bool]:
    return sa.and_(_w.c.session_id == session_id, _w.c.path == path)


async def listing(conn: AsyncConnection, session_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every file of the chat, by path: path, size (bytes), modified_at (ISO 8601) and sha256."""
    rows = await conn.execute(sa.select(*_DESCRIBED).where(_w.c.session_id == session_id).order_by(_BY_PATH))
    return [_described(row) for row in rows]


async def describe(conn: AsyncConnection, session_id: uuid.UUID, path: str) -> dict[str, Any]:
    """One file as `listing` shows it; WorkspaceFileNotFound when the chat has none at path."""
    row = (await conn.execute(sa.select(*_DESCRIBED).where(_this(session_id, paths.clean(path))))).one_or_none()
    if row is None:
        raise _not_found(path)
    return _described(row)


async def read(conn: AsyncConnection, session_id: uuid.UUID, path: str) -> tuple[bytes, dict[str, Any]]:
    """A file's bytes and its description; WorkspaceFileNotFound when the chat has none at path."""
    row = (await conn.execute(sa.select(_w.c.data, *_DESCRIBED).where(_this(session_id, paths.clean(path))))).one_or_none()
    if row is None:
        raise _not_found(path)
    return row.data, _described(row)


async def everything(conn: AsyncConnection, session_id: uuid.UUID) -> list[tuple[str, bytes]]:
    """(path, bytes) of every file of the chat, by path: what a sandbox run starts from."""
    rows = await conn.execute(sa.select(_w.c.path, _w.c.data).where(_w.c.session_id == session_id).order_by(_BY_PATH))
    return [(row.path, row.data) for row in rows]


async def pieces(conn: AsyncConnection, session_id: uuid.UUID, described: dict[str, Any]) -> AsyncIterator[bytes]:
    """The bytes of the file `described` (path, size, sha256), PIECE_BYTES at a time, without reading the rest.

    Its storage is uncompressed (migration 0013), so each piece costs only its own bytes. Each
    piece is read only while the file still has the described content: a file changed or deleted
    meanwhile raises WorkspaceFileChanged, never a mix of two versions.
    """
    for start in range(0, described["size"], PIECE_BYTES):
        yield await _piece(conn, session_id, described, start, PIECE_BYTES)


async def head(conn: AsyncConnection, session_id: uuid.UUID, described: dict[str, Any], size: int) -> bytes:
    """The first `size` bytes (or fewer) of the file `described`: enough to tell a PNG or a JPEG by its signature."""
    return await _piece(conn, session_id, described, 0, size)


async def _piece(conn: AsyncConnection, session_id: uuid.UUID, described: dict[str, Any], start: int, size: int) -> bytes:
    path = described["path"]
    piece = sa.func.substring(_w.c.data, start + 1, size, type_=sa.LargeBinary)
    current = sa.and_(_this(session_id, path), _w.c.sha256 == described["sha256"])
    data = (await conn.execute(sa.select(piece).where(current))).scalar_one_or_none()
    if data is None:
        raise errors.WorkspaceFileChanged(f"The file {path!r} changed while it was being read.")
    return data


async def stream(engine: AsyncEngine, session_id: uuid.UUID, described: dict[str, Any]) -> AsyncIterator[bytes]:
    """`pieces`, on a connection of its own (a download's response body)."""
    async with db_engine.autocommit(engine) as conn:
        async for piece in pieces(conn, session_id, described):
            yield piece


async def put(conn: AsyncConnection, session_id: uuid.UUID, path: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    """Write one file (a new one, or in place of the one at path) within the limits; returns it as `listing` shows it."""
    await apply(conn, session_id, [(path, data)], [], max_bytes)
    return await describe(conn, session_id, path)


async def apply(
    conn: AsyncConnection, session_id: uuid.UUID, changed: Iterable[tuple[str, bytes]], deleted: Iterable[str], max_bytes: int
) -> None:
    """Write `changed` (path, bytes) and delete `deleted` paths, all or nothing, within `max_bytes` and MAX_FILES.

    A path both deleted and changed is changed; a deleted path the chat lacks is no error. Raises
    InvalidPath, WorkspaceFileTooLarge, WorkspaceFull, TooManyWorkspaceFiles or SessionNotFound
    before anything is written.
    """
    writes = {paths.clean(path): data for path, data in changed}
    removals = {paths.clean(path) for path in deleted} - writes.keys()
    for path, data in writes.items():
        if len(data) > MAX_FILE_BYTES:
            raise errors.WorkspaceFileTooLarge(f"The file {path!r} has {len(data)} bytes; at most {MAX_FILE_BYTES} are allowed.")
    if (await conn.execute(_LOCK, {"session_id": session_id})).one_or_none() is None:
        raise errors.SessionNotFound(f"Session '{session_id}' does not exist.")
    stored = {row.path: row for row in await conn.execute(sa.select(_w.c.path, _w.c.size, _w.c.sha256).where(_w.c.session_id == session_id))}
    _check_limits(stored, writes, removals, max_bytes)
    gone = [path for path in removals if path in stored]
    if gone:
        await conn.execute(sa.delete(_w).where(_w.c.session_id == session_id, _w.c.path.in_(gone)))
    for path, data in writes.items():
        sha256 = hashlib.sha256(data).hexdigest()
        if path in stored and stored[path].sha256 == sha256:
            continue  # unchanged: it keeps its modified_at
        await _upsert(conn, session_id, path, data, sha256)


def _check_limits(stored: dict[str, Any], writes: dict[str, bytes], removals: set[str], max_bytes: int) -> None:
    """WorkspaceFull or TooManyWorkspaceFiles when the change would pass a limit and grow the workspace."""
    sizes = {path: row.size for path, row in stored.items() if path not in removals}
    sizes.update((path, len(data)) for path, data in writes.items())
    before, after = sum(row.size for row in stored.values()), sum(sizes.values())
    if after > max_bytes and after > before:
        named = _names(writes)
        raise errors.WorkspaceFull(
            f"Writing {named} would make the chat's files {after} bytes; the limit is {max_bytes} bytes ({max_bytes // MiB} MiB)."
        )
    if len(sizes) > MAX_FILES and len(sizes) > len(stored):
        raise errors.TooManyWorkspaceFiles(f"Writing {_names(writes)} would make the chat hold {len(sizes)} files; at most {MAX_FILES} are allowed.")


def _names(writes: dict[str, bytes]) -> str:
    """The files being written, for an error: a few by name, the rest counted."""
    shown = [repr(path) for path in list(writes)[:3]]
    more = len(writes) - len(shown)
    return ", ".join(shown) + (f" and {more} more file(s)" if more else "")


async def _upsert(conn: AsyncConnection, session_id: uuid.UUID, path: str, data: bytes, sha256: str) -> None:
    values = {"session_id": session_id, "path": path, "data": data, "size": len(data), "sha256": sha256, "modified_at": sa.func.now()}
    statement = insert(_w).values(values)
    replaced = {name: statement.excluded[name] for name in ("data", "size", "sha256", "modified_at")}
    await conn.execute(statement.on_conflict_do_update(index_elements=[_w.c.session_id, _w.c.path], set_=replaced))


async def remove(conn: AsyncConnection, session_id: uuid.UUID, path: str) -> None:
    """Delete one file; WorkspaceFileNotFound when the chat has none at path."""
    deleted = await conn.execute(sa.delete(_w).where(_this(session_id, paths.clean(path))).returning(_w.c.path))
    if deleted.one_or_none() is None:
        raise _not_found(path)


def _not_found(path: str) -> errors.WorkspaceFileNotFound:
    return errors.WorkspaceFileNotFound(f"No file is at {path!r}.")
