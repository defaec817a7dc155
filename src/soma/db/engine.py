"""The SQLAlchemy async engine every Soma process talks to PostgreSQL through."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from soma.db import url as db_url


def create(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine on psycopg 3; connections are checked before use so a restarted server heals."""
    return create_async_engine(
        db_url.for_sqlalchemy(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
    )
