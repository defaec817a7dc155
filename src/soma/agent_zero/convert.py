"""An Agent Zero backup as the items of a Soma restore, so it is staged, previewed and applied like Soma's own.

The records are those a Soma backup holds: chats with their messages and the events that show
them, memories embedded again with Soma's model (Agent Zero's vectors come from another one), and
knowledge files as documents waiting to be indexed, as uploads are; apply.py enqueues their
indexing. The settings are the current ones with Agent Zero's mapped values on top, so `overwrite`
changes only those and `preserve_settings` none. AgentZero hands these items to soma.backup.staging,
which stages them as it stages a Soma backup's.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

import soma
from soma import errors
from soma.agent_zero import archive, chats, contents, preview
from soma.backup import format, reader, rows
from soma.conversations import events
from soma.db import schema
from soma.embeddings.embedder import Embedder
from soma.settings import store as settings_store

FORMAT = "agent-zero"
BLOB_CHUNK_BYTES = reader.READ_BYTES
IMPORTED = {"imported_from": FORMAT}  # every imported message's meta says where it came from
SUMMARY_PREFIX = "Summary of earlier messages (from Agent Zero): "
TITLE_CHARS = 200
SHOWN_CHATS = 100  # chats listed in the staged restore's preview; the counts cover them all


@dataclass
class Import:
    """An opened backup, what it holds, and its memories' vectors from Soma's embedder."""

    arc: archive.Archive
    found: contents.Contents
    vectors: list[list[float]]
    embedder: dict[str, str]  # the identity of the embedder that made them: {"model", "runtime"}


@dataclass(frozen=True)
class AgentZero:
    """Agent Zero's backups for soma.backup.staging: memories embedded with `embedder`, chats owned by `owner` (the admin importing them)."""

    embedder: Embedder
    owner: str | None = None
    magic: ClassVar[bytes] = archive.ZIP_MAGIC
    max_bytes: ClassVar[int] = archive.MAX_TOTAL_BYTES

    async def read(self, file: BinaryIO, current: settings_store.AgentSettings) -> AsyncIterator[reader.Item]:
        """Read and embed the whole zip, then hand over its items (staging.Importer)."""
        plan = await prepare(file, self.embedder, current.upload_max_bytes)
        return items(plan, current, self.owner)


async def prepare(file: BinaryIO, embedder: Embedder, upload_limit: int) -> Import:
    """Open and read the zip (in a thread: it inflates and unpickles) and embed its memories."""
    arc = await asyncio.to_thread(archive.open_archive, file)
    found = await asyncio.to_thread(contents.read, arc, upload_limit)
    vectors = await embedder.embed([m.text for m in found.memories])
    return Import(arc, found, vectors, {"model": embedder.model_id, "runtime": embedder.runtime})


async def items(plan: Import, current: settings_store.AgentSettings, owner: str | None) -> AsyncIterator[reader.Item]:
    """The manifest, the settings, each kind's records in segments, then the knowledge files' bytes."""
    made = _backup_time(plan.found.metadata.get("timestamp"))
    records = _Records(owner, made)
    for chat in plan.found.chats:
        records.chat(chat)
    memories = [_memory(n, m, v, plan.embedder, made) for n, (m, v) in enumerate(zip(plan.found.memories, plan.vectors, strict=True), 1)]
    documents = [_document(k, made) for k in plan.found.knowledge]
    tables = {"sessions": records.sessions, "messages": records.messages, "events": records.events, "memories": memories, "documents": documents}
    yield reader.Document("manifest", _manifest(plan.found, made, tables, plan.embedder))
    settings = current.model_dump() | {s["key"]: s["value"] for s in plan.found.settings}
    yield reader.Document("settings", {"data": settings})
    for kind, kind_records in tables.items():
        for segment in _segments(kind, kind_records):
            yield segment
    for knowledge in plan.found.knowledge:
        yield reader.Blob(knowledge.sha256, knowledge.size, _chunks(plan.arc, knowledge))


def _manifest(found: contents.Contents, made: datetime.datetime, tables: dict[str, list[dict[str, Any]]], embedder_identity: dict[str, str]) -> dict[str, Any]:
    """What the staged restore shows: Soma's counts of what it brings, and the Agent Zero preview."""
    counts = {kind: len(tables.get(kind, [])) for kind in format.TABLES} | {format.BLOBS: len(found.knowledge), format.FILE_BLOBS: 0}
    shown = preview.describe(found)
    shown["chats"] = shown["chats"][:SHOWN_CHATS]
    return {
        "format": FORMAT,
        "agent_zero_version": found.metadata["agent_zero_version"],
        "soma_version": soma.__version__,
        "schema_revision": schema.head(),
        "created_at": made.isoformat().replace("+00:00", "Z"),
        "embedder": embedder_identity,
        "counts": counts,
        "agent_zero": shown,
    }


class _Records:
    """The sessions, messages and events of the imported chats, with ids counted from 1 (the tables are emptied first)."""

    def __init__(self, owner: str | None, made: datetime.datetime) -> None:
        self.owner, self.made = owner, made
        self.sessions: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def chat(self, chat: chats.Chat) -> None:
        session_id = str(uuid.uuid4())
        at = contents.timestamp(chat.created_at) or self.made
        question: int | None = None
        for event_id, (role, text) in enumerate(chat.messages, 1):
            message = self._message(session_id, role, text, question, at)
            question = message["id"] if role == "user" else None
            kind = events.MESSAGE_CREATED if role == "user" else events.ASSISTANT_MESSAGE
            shown = {**message, "citations": [], "stopped": False}  # as message_shape shows it
            self._add("events", {"session_id": session_id, "id": event_id, "type": kind, "data": {"message": shown}, "created_at": message["created_at"]})
        title = _clean(chat.name).strip()[:TITLE_CHARS] or f"Agent Zero chat {chat.id}"
        session = {"id": session_id, "title": title, "created_at": at.isoformat(), "updated_at": at.isoformat(),
                   "last_event_id": len(chat.messages), "owner": self.owner,
                   "profile": None, "parent_session_id": None, "parent_call_id": None, "depth": 0}  # fmt: skip
        self._add("sessions", session)

    def _message(self, session_id: str, role: str, text: str, question: int | None, at: datetime.datetime) -> dict[str, Any]:
        summary = role == "summary"
        message = {
            "id": len(self.messages) + 1,
            "session_id": session_id,
            "role": "assistant" if summary else role,
            "content": _clean(SUMMARY_PREFIX + text if summary else text),
            "reply_to": question if role == "assistant" else None,
            "meta": {**IMPORTED, "summary": True} if summary else dict(IMPORTED),
            "created_at": at.isoformat(),
            "versions": [],
        }
        self._add("messages", message)
        return message

    def _add(self, kind: str, record: dict[str, Any]) -> None:
        rows.check(record, f"the imported {kind} record", rows.SCHEMAS[kind][1])
        getattr(self, kind).append(record)


def _memory(n: int, memory: contents.Memory, vector: list[float], made_by: dict[str, str], made: datetime.datetime) -> dict[str, Any]:
    at = (memory.created_at or made).isoformat()
    source = "user" if memory.area == "main" else "agent"  # fragments and solutions are what Agent Zero memorised itself
    record = {"id": n, "content": _clean(memory.text), "embedding": vector, "embedding_model": made_by["model"],
              "embedding_runtime": made_by["runtime"], "source": source,
              "created_at": at, "updated_at": at}  # fmt: skip
    rows.check(record, "an imported memory", rows.SCHEMAS["memories"][1])
    return record


def _document(knowledge: contents.KnowledgeFile, made: datetime.datetime) -> dict[str, Any]:
    record = {
        "id": str(uuid.uuid4()), "filename": _clean(knowledge.filename), "content_type": knowledge.content_type,
        "size_bytes": knowledge.size, "sha256": knowledge.sha256, "state": "pending", "error": None, "chunk_count": 0,
        "created_at": made.isoformat(), "updated_at": made.isoformat(),
    }  # fmt: skip
    rows.check(record, "an imported knowledge file", rows.SCHEMAS["documents"][1])
    return record


def _segments(kind: str, records: list[dict[str, Any]]) -> Iterator[reader.Segment]:
    """The records as segments of at most format.SEGMENT_BYTES, as a Soma backup holds them."""
    batch: list[dict[str, Any]] = []
    lines: list[bytes] = []
    size = 0
    for record in records:
        line = format.dumps(record) + b"\n"
        if batch and size + len(line) > format.SEGMENT_BYTES:
            yield reader.Segment(kind, batch, b"".join(lines))
            batch, lines, size = [], [], 0
        batch.append(record)
        lines.append(line)
        size += len(line)
    if batch:
        yield reader.Segment(kind, batch, b"".join(lines))


async def _chunks(arc: archive.Archive, knowledge: contents.KnowledgeFile) -> AsyncIterator[bytes]:
    """The file's bytes, read in a thread; AgentZeroArchiveBroken when they are not those that were hashed."""
    pieces = arc.chunks(knowledge.entry, BLOB_CHUNK_BYTES)
    digest, size = hashlib.sha256(), 0
    while (chunk := await asyncio.to_thread(next, pieces, b"")) != b"":
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if (size, digest.hexdigest()) != (knowledge.size, knowledge.sha256):
        raise errors.AgentZeroArchiveBroken(f"Entry {knowledge.entry!r} changed while it was read.")


def _clean(text: str) -> str:
    """PostgreSQL text holds no NUL character: it becomes U+FFFD, as an undecodable byte does."""
    return text.replace("\x00", "\ufffd")


def _backup_time(value: Any) -> datetime.datetime:
    """When Agent Zero made the backup (its metadata's timestamp, taken as UTC), or now when it does not say."""
    return contents.timestamp(value) or datetime.datetime.now(datetime.UTC)
