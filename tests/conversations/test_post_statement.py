"""The one-statement message writes: the event's copy of the message equals the API's, and a refused or repeated write writes nothing."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.conversations import message_shape, messages, sessions
from soma.db import engine as db_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.create(database_url)
    yield engine
    await engine.dispose()


async def _new_chat(engine: AsyncEngine, owner: str | None = None) -> uuid.UUID:
    async with engine.begin() as conn:
        return uuid.UUID((await sessions.create(conn, None, owner=owner))["id"])


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
async def test_the_event_writes_times_as_the_api_does(engine: AsyncEngine, zone: str) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text(f"SET TIME ZONE '{zone}'"))
        for written in ("2026-01-02 03:04:05+00", "2026-01-02 03:04:05.120000+00", "1999-12-31 23:59:59.999999+00"):
            query = sa.text(f"SELECT created_at, {message_shape.iso('created_at')} AS iso FROM (SELECT CAST(:t AS timestamptz) AS created_at) AS m")
            row = (await conn.execute(query, {"t": written})).one()
            assert row.iso == row.created_at.isoformat()


async def test_a_post_to_a_missing_or_foreign_chat_writes_nothing(engine: AsyncEngine) -> None:
    session_id = await _new_chat(engine, owner="user:1")
    async with db_engine.autocommit(engine) as conn:
        for target, owner in ((uuid.uuid4(), None), (session_id, "user:2")):
            with pytest.raises(errors.SessionNotFound):
                await messages.post_user_message(conn, target, "hello", owner)
        posted = await messages.post_user_message(conn, session_id, "Where is the 2027 budget?\nIt was here.", "user:1")
        counts = sa.text("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM session_events), (SELECT count(*) FROM procrastinate_jobs)")
        assert tuple((await conn.execute(counts)).one()) == (1, 1, 1)
        event = (await conn.execute(sa.text("SELECT id, data FROM session_events"))).one()
        assert event.id == 1 and event.data == {"message": posted}
        job = (await conn.execute(sa.text("SELECT lock, args FROM procrastinate_jobs"))).one()
        assert job.lock == f"session:{session_id}" and job.args == {"session_id": str(session_id), "message_id": posted["id"]}
        chat = await sessions.get(conn, session_id)
        assert chat["title"] == "Where is the 2027 budget?" and chat["last_event_id"] == 1
        assert datetime.datetime.fromisoformat(chat["updated_at"]) >= datetime.datetime.fromisoformat(posted["created_at"])


async def test_a_stored_answer_and_its_event_agree_and_a_second_store_writes_nothing(engine: AsyncEngine) -> None:
    session_id = await _new_chat(engine)
    async with db_engine.autocommit(engine) as conn:
        asked = await messages.post_user_message(conn, session_id, "Hi")
        first = await messages.store_reply(conn, session_id, asked["id"], "Hello", {"citations": []})
        assert await messages.store_reply(conn, session_id, asked["id"], "Hello again", {}) is None  # a turn run twice
        second = await messages.store_reply(conn, session_id, asked["id"], "Hi there", {"stopped": True}, generation=2)
        log = (await conn.execute(sa.text("SELECT id, type, data FROM session_events ORDER BY id"))).all()
    assert [(e.id, e.type) for e in log] == [(1, "message.created"), (2, "assistant.message"), (3, "assistant.message")]
    assert log[1].data == {"message": first} and log[2].data == {"message": second}
    assert second["id"] == first["id"] and second["stopped"] is True
    async with db_engine.autocommit(engine) as conn:
        await sessions.delete(conn, session_id)
        assert await messages.store_reply(conn, session_id, asked["id"], "Too late", {}, generation=3) is None  # the chat is gone
    assert [v["content"] for v in second["versions"]] == ["Hello"] and second["versions"][0]["created_at"] == first["created_at"]
