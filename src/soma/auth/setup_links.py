"""The one-time link that lets the first operator set the admin password: 15 minutes, single use."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.auth import tokens
from soma.db import tables

_t = tables.setup_tokens
VALID_FOR = datetime.timedelta(minutes=15)


async def issue(conn: AsyncConnection, valid_for: datetime.timedelta = VALID_FOR) -> str:
    """A new setup token; only its digest is stored."""
    token = tokens.new_token()
    await conn.execute(sa.insert(_t).values(token_hash=tokens.digest(token), expires_at=sa.func.now() + valid_for))
    return token


async def consume(conn: AsyncConnection, token: str) -> bool:
    """Use the token up; False when unknown, used or expired. Atomic, so two tabs cannot both use it."""
    result = await conn.execute(
        sa.update(_t)
        .where(_t.c.token_hash == tokens.digest(token), _t.c.used_at.is_(None), _t.c.expires_at > sa.func.now())
        .values(used_at=sa.func.now())
    )
    return result.rowcount == 1


async def offer(engine: AsyncEngine) -> str | None:
    """A fresh setup token when nobody can log in yet (no user exists), else None."""
    async with engine.begin() as conn:
        users = (await conn.execute(sa.select(sa.func.count()).select_from(tables.users))).scalar_one()
        return None if users else await issue(conn)


def offer_sync(database_url: str) -> str | None:
    """`offer` for synchronous callers such as `soma up`."""
    import asyncio

    from soma.db import engine as db_engine

    async def go() -> str | None:
        engine = db_engine.create(database_url, pool_size=1)
        try:
            return await offer(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())
