"""A chat's files in PostgreSQL: listing, reading, writing within the quota all or nothing, deleting, and going with the chat."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.conversations import sessions
from soma.db import engine as db_engine
from soma.workspaces import store

MiB = 1024 * 1024
QUOTA = 1000  # bytes: small, so the tests fill it with little data


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    created = db_engine.create(database_url, pool_size=2)
    yield created
    await created.dispose()


@pytest.fixture
async def chat(engine: AsyncEngine) -> uuid.UUID:
    async with engine.begin() as conn:
        return uuid.UUID((await sessions.create(conn, "Files"))["id"])


def _rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute('SELECT path, data, size, sha256 FROM workspace_files ORDER BY path COLLATE "C"').fetchall()


async def test_a_file_put_is_listed_read_and_described_with_its_size_and_hash(engine, chat) -> None:
    async with engine.begin() as conn:
        described = await store.put(conn, chat, "data/sales.csv", b"month,total\n1,20\n", QUOTA)
        await store.put(conn, chat, "README.md", b"# notes\n", QUOTA)
    async with engine.connect() as conn:
        listed = await store.listing(conn, chat)
        data, read = await store.read(conn, chat, "data/sales.csv")
        everything = await store.everything(conn, chat)

    assert described == {
        "path": "data/sales.csv", "size": 17, "modified_at": described["modified_at"],
        "sha256": hashlib.sha256(b"month,total\n1,20\n").hexdigest(),
    }  # fmt: skip
    assert [f["path"] for f in listed] == ["README.md", "data/sales.csv"]  # code point order: capitals first
    assert listed[1] == described and read == described and data == b"month,total\n1,20\n"
    assert everything == [("README.md", b"# notes\n"), ("data/sales.csv", b"month,total\n1,20\n")]


async def test_a_write_past_the_quota_changes_nothing_and_names_the_file_and_the_limit(engine, chat, database_url) -> None:
    async with engine.begin() as conn:
        await store.put(conn, chat, "kept.txt", b"k" * 600, QUOTA)
    before = _rows(database_url)

    async with engine.begin() as conn:
        with pytest.raises(errors.WorkspaceFull) as full:
            await store.apply(conn, chat, [("a.txt", b"a" * 300), ("b.txt", b"b" * 200)], [], QUOTA)

    assert full.value.detail == "Writing 'a.txt', 'b.txt' would make the chat's files 1100 bytes; the limit is 1000 bytes (0 MiB)."
    assert full.value.status_code == 413
    assert _rows(database_url) == before


async def test_deleting_and_writing_in_one_apply_counts_what_the_workspace_holds_after_it(engine, chat, database_url) -> None:
    async with engine.begin() as conn:
        await store.apply(conn, chat, [("old.txt", b"o" * 600), ("keep.txt", b"k" * 100)], [], QUOTA)
        await store.apply(conn, chat, [("new.txt", b"n" * 800)], ["old.txt", "never-there.txt"], QUOTA)

    assert [(path, size) for path, _data, size, _sha in _rows(database_url)] == [("keep.txt", 100), ("new.txt", 800)]


async def test_a_workspace_over_a_lowered_quota_may_still_shrink_but_not_grow(engine, chat, database_url) -> None:
    async with engine.begin() as conn:
        await store.put(conn, chat, "big.bin", b"x" * 900, QUOTA)
    async with engine.begin() as conn:
        await store.put(conn, chat, "big.bin", b"x" * 700, 500)  # smaller than before: allowed over the limit
        with pytest.raises(errors.WorkspaceFull):
            await store.put(conn, chat, "more.bin", b"y", 500)

    assert [(path, size) for path, _data, size, _sha in _rows(database_url)] == [("big.bin", 700)]


async def test_an_unchanged_file_keeps_its_modified_time(engine, chat) -> None:
    async with engine.begin() as conn:
        first = await store.put(conn, chat, "same.txt", b"same", QUOTA)
    async with engine.begin() as conn:
        again = await store.put(conn, chat, "same.txt", b"same", QUOTA)
        changed = await store.put(conn, chat, "same.txt", b"different", QUOTA)

    assert again == first
    assert changed["modified_at"] > first["modified_at"] and changed["size"] == 9


async def test_a_hostile_path_in_an_apply_refuses_the_whole_apply(engine, chat, database_url) -> None:
    async with engine.begin() as conn:
        with pytest.raises(errors.InvalidPath):
            await store.apply(conn, chat, [("fine.txt", b"ok"), ("../../x", b"escape")], [], QUOTA)

    assert _rows(database_url) == []


async def test_a_file_over_the_largest_a_row_holds_is_refused_before_any_write(engine, chat, monkeypatch) -> None:
    monkeypatch.setattr(store, "MAX_FILE_BYTES", 10)
    async with engine.begin() as conn:
        with pytest.raises(errors.WorkspaceFileTooLarge) as refused:
            await store.put(conn, chat, "eleven.txt", b"x" * 11, QUOTA)

    assert refused.value.detail == "The file 'eleven.txt' has 11 bytes; at most 10 are allowed."


async def test_more_files_than_a_chat_may_hold_are_refused(engine, chat, monkeypatch, database_url) -> None:
    monkeypatch.setattr(store, "MAX_FILES", 2)
    async with engine.begin() as conn:
        await store.apply(conn, chat, [("1", b""), ("2", b"")], [], QUOTA)
        with pytest.raises(errors.TooManyWorkspaceFiles) as refused:
            await store.put(conn, chat, "3", b"", QUOTA)
        await store.apply(conn, chat, [("3", b"")], ["1"], QUOTA)  # as many as before: fine

    assert refused.value.detail == "Writing '3' would make the chat hold 3 files; at most 2 are allowed."
    assert [path for path, *_ in _rows(database_url)] == ["2", "3"]


async def test_a_missing_file_is_workspace_file_not_found_for_read_and_remove(engine, chat) -> None:
    async with engine.begin() as conn:
        for action in (store.read(conn, chat, "nope.txt"), store.remove(conn, chat, "nope.txt")):
            with pytest.raises(errors.WorkspaceFileNotFound) as missing:
                await action
            assert missing.value.message == "No file is at 'nope.txt'. The chat has no file at this path. List its files with GET /v1/sessions/{id}/files."


async def test_a_removed_file_is_gone(engine, chat, database_url) -> None:
    async with engine.begin() as conn:
        await store.put(conn, chat, "a.txt", b"a", QUOTA)
        await store.remove(conn, chat, "a.txt")

    assert _rows(database_url) == []


async def test_a_large_file_is_read_in_pieces_that_join_to_its_bytes(engine, chat) -> None:
    data = bytes(range(256)) * (5 * 4096 + 7)  # a little over 5 MiB
    async with engine.begin() as conn:
        described = await store.put(conn, chat, "big.bin", data, 10 * MiB)
    pieces = [piece async for piece in store.stream(engine, chat, described)]

    assert [len(p) for p in pieces] == [MiB] * 5 + [len(data) - 5 * MiB]
    assert b"".join(pieces) == data


async def test_a_file_changed_while_it_is_read_in_pieces_is_never_sent_mixed(engine, chat) -> None:
    async with engine.begin() as conn:
        described = await store.put(conn, chat, "big.bin", b"a" * (2 * MiB), 10 * MiB)
    read = store.stream(engine, chat, described)
    first = await anext(read)
    async with engine.begin() as conn:
        await store.put(conn, chat, "big.bin", b"b" * (2 * MiB), 10 * MiB)

    with pytest.raises(errors.WorkspaceFileChanged):
        await anext(read)
    assert first == b"a" * MiB


async def test_writing_to_a_chat_that_does_not_exist_is_session_not_found(engine) -> None:
    async with engine.begin() as conn:
        with pytest.raises(errors.SessionNotFound):
            await store.put(conn, uuid.uuid4(), "a.txt", b"a", QUOTA)


async def test_a_chats_files_are_deleted_with_the_chat(engine, chat, database_url) -> None:
    async with engine.begin() as conn:
        await store.put(conn, chat, "a.txt", b"a", QUOTA)
        await sessions.delete(conn, chat)

    assert _rows(database_url) == []
