"""The SQLAlchemy engines Soma talks to PostgreSQL through, and the error when PostgreSQL cannot be used."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from soma import errors
from soma.db import url as db_url

CONNECT_TIMEOUT = 10  # seconds for PostgreSQL to accept a connection; libpq would wait forever


def create(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine on psycopg 3; connections are checked before use so a restarted server heals."""
    return create_async_engine(
        db_url.for_sqlalchemy(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
    )


@contextlib.asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit, for reads that need no transaction of their own.

    Under READ COMMITTED each statement takes its own snapshot anyway; without a transaction the
    driver sends no BEGIN and no ROLLBACK, two round trips of the few a turn's start makes.
    """
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def create_for_events(database_url: str, pool_size: int = 4) -> AsyncEngine:
    """An engine for a worker's streamed event appends: autocommit, commits not waiting for the disk, no ping.

    Turns take a connection for each batch of deltas instead of holding one while they stream, so a
    worker running many turns needs few connections; the ping before each checkout would double the
    round trips of a batch. A connection broken by a server restart fails its batch, the turn is run
    again by the queue, and the pool drops every older connection.
    """
    return create_async_engine(
        db_url.for_sqlalchemy(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c synchronous_commit=off"},
    )


def create_once(database_url: str) -> sa.Engine:
    """A synchronous engine without a pool, for one-off work at a command's start: checks and migrations."""
    return sa.create_engine(
        db_url.for_sqlalchemy(database_url), poolclass=sa.pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
    )


def unavailable(database_url: str, exc: sa.exc.DBAPIError) -> errors.DatabaseUnavailable:
    """DatabaseUnavailable naming the database (password hidden) and the driver's first line; raise it `from exc.orig`."""
    text = str(exc.orig).strip()
    reason = text.splitlines()[0].rstrip(".") if text else type(exc.orig).__name__
    return errors.DatabaseUnavailable(f"{db_url.redacted(database_url)}: {reason}.")
