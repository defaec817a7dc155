"""The restore lock: while a restore applies, writes to what it replaces are refused with 503 restore_in_progress.

The lock is a PostgreSQL advisory lock taken by the apply's own transaction, so every gateway
replica sees it, and a killed gateway or a rolled-back apply lets it go by itself: nothing can
leave it stuck. It lives with the database, not with backup, because the writers it guards
(conversations, the gateway) check it too; the gateway names which requests it guards
(soma.gateway.restore_gate).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.db import engine as db_engine

KEY = "hashtextextended('soma.restore', 0)"
_SHUT = sa.text(f"SELECT pg_try_advisory_xact_lock({KEY})")
# A shared lock conflicts only with the apply's exclusive one; taken and let go in one statement.
_OPEN = sa.text(f"SELECT pg_try_advisory_xact_lock_shared({KEY})")

# The check as an SQL expression, for a write made in one statement: true while no restore
# applies, and then its shared lock holds until that statement's transaction ends, so no restore
# begins under the write. It spares the write the probe's round trip.
OPEN = f"pg_try_advisory_xact_lock_shared({KEY})"


async def shut(conn: AsyncConnection) -> None:
    """Hold the lock until conn's transaction ends; RestoreInProgress when another restore holds it."""
    if not (await conn.execute(_SHUT)).scalar_one():
        raise errors.RestoreInProgress("Another restore is being applied.")


async def check(engine: AsyncEngine) -> None:
    """RestoreInProgress while a restore applies."""
    async with db_engine.autocommit(engine) as conn:  # the shared lock is taken and let go within the statement
        is_open = (await conn.execute(_OPEN)).scalar_one()
    if not is_open:
        raise errors.RestoreInProgress()
