"""The SQLAlchemy engines Soma talks to PostgreSQL through, and the error when PostgreSQL cannot be used."""

from __future__ import annotations

import contextlib
import select
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from soma import errors
from soma.db import url as db_url

CONNECT_TIMEOUT = 10  # seconds for PostgreSQL to accept a connection; libpq would wait forever


def create(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine on psycopg 3; a connection the server closed is replaced at checkout, so a restarted server heals."""
    return _checked(create_async_engine(
        db_url.for_sqlalchemy(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
    ))


def _checked(engine: AsyncEngine) -> AsyncEngine:
    """Replace, at checkout, a pooled connection whose server has hung up.

    An idle connection has nothing to read unless the server closed it (a restart, a killed
    backend, idle_session_timeout), which sends an error or end-of-file first. Looking for that on
    the socket costs a system call; pool_pre_ping costs a round trip on every checkout, and a turn
    or a posted message checks out several.
    """
    sa.event.listen(engine.sync_engine, "checkout", _drop_if_hung_up)
    return engine


def _drop_if_hung_up(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if hung_up(dbapi_connection.driver_connection):
        raise sa.exc.DisconnectionError("PostgreSQL closed this pooled connection")  # the pool connects anew


def hung_up(connection: Any) -> bool:
    """Whether an idle psycopg connection was closed by the server: closed, or something to read on its socket."""
    if connection.closed:
        return True
    poller = select.poll()  # not select.select: it refuses descriptors past 1024
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


@contextlib.asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit: for reads that need no transaction, and writes made in one statement.

    Under READ COMMITTED each statement takes its own snapshot anyway, and a single statement is a
    transaction by itself; in autocommit the driver sends no BEGIN, COMMIT or ROLLBACK, round trips
    that were a good part of a turn's start.
    """
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def create_for_events(database_url: str, pool_size: int = 8) -> AsyncEngine:
    """An engine for a worker's streamed event appends: autocommit, commits not waiting for the disk.

    Turns take a connection for each batch of deltas instead of holding one while they stream, so a
    worker running many turns needs few connections. Few, but not too few: a connection beyond
    `pool_size` is closed when it comes back, and at 16 chats streaming, 4 kept connections meant
    one opened and closed every few writes (a tenth of the worker's samples). A connection broken by a
    server restart mid-batch fails its batch, the turn is run again by the queue, and the pool
    drops every older connection.
    """
    return _checked(create_async_engine(
        db_url.for_sqlalchemy(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c synchronous_commit=off"},
    ))


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
