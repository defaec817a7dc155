"""post_user_message's one statement: the event's copy of the message equals the API's, and a refused post writes nothing."""

from __future__ import annotations

import datetime
import uuid

import pytest
import sqlalchemy as sa

from soma import errors
from soma.conversations import messages, sessions
from soma.db import engine as db_engine


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
async def test_the_event_writes_times_as_the_api_does(database_url: str, zone: str) -> None:
    engine = db_engine.create(database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f"SET TIME ZONE '{zone}'"))
            for written in ("2026-01-02 03:04:05+00", "2026-01-02 03:04:05.120000+00", "1999-12-31 23:59:59.999999+00"):
                query = sa.text(f"SELECT created_at, {messages.ISO_CREATED_AT} AS iso FROM (SELECT CAST(:t AS timestamptz) AS created_at) AS m")
                row = (await conn.execute(query, {"t": written})).one()
                assert row.iso == row.created_at.isoformat()
    finally:
        await engine.dispose()


async def test_a_post_to_a_missing_or_foreign_chat_writes_nothing(database_url: str) -> None:
    engine = db_engine.create(database_url)
    try:
        async with engine.begin() as conn:
            chat = await sessions.create(conn, None, owner="user:1")
        session_id = uuid.UUID(chat["id"])
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
    finally:
        await engine.dispose()
