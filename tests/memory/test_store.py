"""The memory store on a real database with the real embedding model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.db import engine as db_engine
from soma.db import hnsw
from soma.memory import store
from tests.conftest import EMBEDDER
from tests.memory import unrelated

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.create(database_url)
    yield engine
    await engine.dispose()


async def _create(engine: AsyncEngine, content: str, source: str = "user") -> dict:
    async with engine.begin() as conn:
        return await store.create(conn, EMBEDDER, content, source)


def _rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, content, source, embedding_model, vector_dims(embedding) FROM memories ORDER BY id"
        ).fetchall()


async def test_a_memory_is_stored_with_its_embedding_model_and_source(engine, database_url) -> None:
    memory = await _create(engine, "  My sister Alice lives in Lisbon.  ", source="agent")

    assert memory == {
        "id": 1,
        "content": "My sister Alice lives in Lisbon.",
        "source": "agent",
        "embedding_model": MODEL,
        "created_at": memory["created_at"],
        "updated_at": memory["created_at"],
        "merged": False,
    }
    assert _rows(database_url) == [(1, "My sister Alice lives in Lisbon.", "agent", MODEL, 384)]
    async with engine.connect() as conn:
        assert await store.get(conn, 1) == {k: v for k, v in memory.items() if k != "merged"}


async def test_a_reworded_fact_merges_into_the_memory_it_restates(engine, database_url) -> None:
    first = await _create(engine, "my favourite colour is teal")

    second = await _create(engine, "My favorite color is teal.", source="agent")

    assert (second["id"], second["content"], second["merged"]) == (first["id"], "My favorite color is teal.", True)
    assert second["source"] == "user"  # who first stored it
    assert second["created_at"] == first["created_at"] and second["updated_at"] > first["updated_at"]
    assert _rows(database_url) == [(1, "My favorite color is teal.", "user", MODEL, 384)]


async def test_a_related_but_different_fact_is_stored_beside_the_other(engine, database_url) -> None:
    await _create(engine, "my favourite colour is teal")

    other = await _create(engine, "my favourite colour is blue")

    assert (other["id"], other["merged"]) == (2, False)
    assert [r[1] for r in _rows(database_url)] == ["my favourite colour is teal", "my favourite colour is blue"]


async def test_the_list_pages_newest_first_with_a_cursor(engine) -> None:
    facts = ["I own a red bicycle.", "The boiler was serviced in May.", "Tom is allergic to cats.",
             "Our wifi password is on the fridge.", "The dentist is on Baker Street."]
    for fact in facts:
        await _create(engine, fact)

    async with engine.connect() as conn:
        first = await store.list_page(conn, limit=2)
        second = await store.list_page(conn, limit=2, before=first["next"])
        last = await store.list_page(conn, limit=2, before=second["next"])

    assert [[m["id"] for m in page["memories"]] for page in (first, second, last)] == [[5, 4], [3, 2], [1]]
    assert (first["next"], second["next"], last["next"]) == (4, 2, None)
    assert [m["content"] for m in first["memories"]] == [facts[4], facts[3]]


async def test_a_search_returns_the_closest_memories_best_first_with_their_similarity(engine) -> None:
    for fact in ("I own a red bicycle.", "My sister Alice lives in Lisbon.", "The boiler was serviced in May."):
        await _create(engine, fact)

    async with engine.connect() as conn:
        found = await store.search(conn, EMBEDDER, "Where does my sister live?", limit=2)

    assert [m["content"] for m in found] == ["My sister Alice lives in Lisbon.", found[1]["content"]]
    assert found[0]["similarity"] > 0.6 > found[1]["similarity"]
    assert set(found[0]) == {"id", "content", "source", "embedding_model", "created_at", "updated_at", "similarity"}


async def test_an_update_replaces_the_content_and_its_embedding(engine, database_url) -> None:
    created = await _create(engine, "The meeting is on Tuesday.")

    async with engine.begin() as conn:
        updated = await store.update(conn, EMBEDDER, created["id"], "The dentist is on Baker Street.")
    async with engine.connect() as conn:
        [found] = await store.search(conn, EMBEDDER, "The dentist is on Baker Street.", limit=1)

    assert updated["content"] == "The dentist is on Baker Street." and updated["updated_at"] > created["updated_at"]
    assert (found["id"], found["similarity"]) == (created["id"], 1.0)
    assert _rows(database_url) == [(1, "The dentist is on Baker Street.", "user", MODEL, 384)]


async def test_a_deleted_memory_is_gone(engine, database_url) -> None:
    created = await _create(engine, "The meeting is on Tuesday.")

    async with engine.begin() as conn:
        deleted = await store.delete(conn, created["id"])

    assert deleted["content"] == "The meeting is on Tuesday."
    assert _rows(database_url) == []


@pytest.mark.parametrize("call", ["get", "update", "delete"])
async def test_an_unknown_id_is_memory_not_found(engine, call) -> None:
    async with engine.begin() as conn:
        with pytest.raises(errors.MemoryNotFound) as caught:
            if call == "get":
                await store.get(conn, 42)
            elif call == "update":
                await store.update(conn, EMBEDDER, 42, "anything")
            else:
                await store.delete(conn, 42)

    assert caught.value.status_code == 404
    assert caught.value.message == (
        "Memory 42 does not exist. No memory has this id. "
        "List memories with GET /v1/memories, or search them with GET /v1/memories?query=…."
    )


async def test_blank_or_oversized_content_is_refused_and_stores_nothing(engine, database_url) -> None:
    async with engine.begin() as conn:
        with pytest.raises(errors.InvalidMemory) as blank:
            await store.create(conn, EMBEDDER, " \n ", "user")
        with pytest.raises(errors.MemoryTooLarge) as large:
            await store.create(conn, EMBEDDER, "x" * 4001, "user")

    assert (blank.value.status_code, blank.value.code) == (422, "invalid_memory")
    assert blank.value.message.startswith("The content is empty. The memory request is not valid.")
    assert (large.value.status_code, large.value.code) == (413, "memory_too_large")
    assert large.value.message == (
        "The memory has 4001 characters. A memory holds at most 4000 characters. "
        "Store a shorter fact, or split it into several memories."
    )
    assert _rows(database_url) == []


async def test_recall_finds_the_one_related_memory_among_1000_unrelated_by_exact_scan_and_through_the_hnsw_index(engine, database_url) -> None:
    fact = await _create(engine, "My sister Alice lives in Lisbon.")
    unrelated.insert(database_url, unrelated.facts())
    [question] = EMBEDDER.embed_sync(["Where does my sister Alice live?"])

    found, depths = [], []
    sizes = (1001, hnsw.EXACT_BELOW, 1_000_000)  # as VACUUM or ANALYZE counts it: an exact scan, then the index at its least depth and deeper
    for rows in sizes:
        async with engine.connect() as conn:
            await conn.execute(sa.text("UPDATE pg_class SET reltuples = :rows WHERE relname = 'memories'"), {"rows": rows})
            await conn.execute(sa.text("SET enable_seqscan = off"))  # the planner must use the index when the query lets it
            scans = sa.text("SELECT pg_stat_get_xact_numscans('memories_embedding_hnsw'::regclass)")  # not yet flushed
            before = (await conn.execute(scans)).scalar_one()
            recalled = await store.recall(conn, question, k=5, threshold=0.35)
            nearest = await store.recall(conn, question, k=50, threshold=0.0)
            found.append(((await conn.execute(scans)).scalar_one() - before, recalled, nearest))
            depths.append((await conn.execute(sa.text("SELECT current_setting('hnsw.ef_search')"))).scalar_one())
            await conn.commit()

    async with db_engine.autocommit(engine) as conn:  # as a turn reads (conversations/turn.py): each statement its own transaction
        await conn.execute(sa.text("SET enable_seqscan = off"))
        depth_before = (await conn.execute(sa.text("SELECT current_setting('hnsw.ef_search')"))).scalar_one()
        in_autocommit = await store.recall(conn, question, k=50, threshold=0.0)  # at pgvector's 40 it would find 40 at most
        depth_after = (await conn.execute(sa.text("SELECT current_setting('hnsw.ef_search')"))).scalar_one()
        await conn.execute(sa.text("RESET enable_seqscan"))

    assert len(in_autocommit) == 50  # the depth the statement set was the depth its own index scan used
    assert (depth_before, depth_after) == ("40", "40")  # and it ended with that statement: nothing stays on the pooled connection
    assert [index_scans for index_scans, _, _ in found] == [0, 2, 2]
    assert depths == ["40", *(str(hnsw.depth_for(rows, k=50)) for rows in sizes[1:])]  # the depth set in SQL is depth_for's
    for _, recalled, nearest in found:
        assert recalled == [{"id": fact["id"], "content": "My sister Alice lives in Lisbon.", "similarity": 0.7403}]
        assert len(nearest) == 50  # more than pgvector's default of 40 candidates
        assert [m["similarity"] for m in nearest] == sorted((m["similarity"] for m in nearest), reverse=True)
    assert len(set(unrelated.facts())) == 1000
