"""The audit log only grows: PostgreSQL itself refuses to change or remove an entry."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from soma.audit import log as audit


async def test_entries_are_appended_and_never_changed(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await audit.record(conn, "slm.key.rotated", "ops@host", "kv/slm/api-key", {"version": 2})
        async with engine.connect() as conn:
            [entry] = (await audit.page(conn))["entries"]
        assert (entry["action"], entry["actor"], entry["details"]) == ("slm.key.rotated", "ops@host", {"version": 2})
    finally:
        await engine.dispose()

    plain = database_url.replace("+psycopg", "")
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with psycopg.connect(plain) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(statement)
