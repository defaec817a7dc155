"""What the CLI and the API share below them refuses, naming the limit: a username with a newline, an expiry past a century."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from soma import errors
from soma.auth import keys, users


@pytest.fixture
async def conn(database_url: str):
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        yield connection
    await engine.dispose()


async def test_a_username_ending_in_a_newline_is_refused(conn) -> None:
    with pytest.raises(errors.InvalidUser, match="is not allowed"):
        await users.create(conn, "alice\n", "a long enough password", "member")


async def test_an_expiry_beyond_a_hundred_years_is_refused_not_an_overflow(conn) -> None:
    with pytest.raises(errors.InvalidApiKey, match=f"at most {keys.MAX_EXPIRES_DAYS}, not 1e\\+308"):
        await keys.create(conn, "ci", ["chat"], "test", expires_days=1e308)
    key, row = await keys.create(conn, "ci", ["chat"], "test", expires_days=keys.MAX_EXPIRES_DAYS)
    assert row["expires_at"] is not None
