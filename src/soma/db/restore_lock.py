"""The restore lock: while a restore applies, writes to what it replaces are refused with 503 restore_in_progress.

Two PostgreSQL advisory locks, taken by the apply's own transaction, so every gateway replica sees
them, and a killed gateway or a rolled-back apply lets them go by itself: nothing can leave them
stuck. APPLYING says that a restore applies; a second restore tries it and is told so at once.
GATE is what writes check: each takes it shared for the length of its statement (OPEN, check()),
and the apply takes it exclusive, waiting up to WAIT_SECONDS for the writes in flight to end.

While the apply waits, its request is queued, and PostgreSQL makes a later shared request wait
behind it: the writes' *try* (never blocking) then fails, so a write sent meanwhile is refused
with 503 restore_in_progress at once instead of hanging or making the apply wait longer.

It lives with the database, not with backup, because the writers it guards (conversations, the
gateway) check it too; the gateway names the requests it guards (soma.gateway.restore_gate).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.db import engine as db_engine

GATE = "hashtextextended('soma.restore', 0)"
APPLYING = "hashtextextended('soma.restore.applying', 0)"
WAIT_SECONDS = 5.0  # for writes in flight (each one short statement) before an apply gives up with restore_busy
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ends a wait

_CLAIM = sa.text(f"SELECT pg_try_advisory_xact_lock({APPLYING})")
_SHUT = sa.text(f"SELECT pg_advisory_xact_lock({GATE})")
# A shared lock conflicts only with the apply's exclusive one; taken and let go in one statement.
_OPEN = sa.text(f"SELECT pg_try_advisory_xact_lock_shared({GATE})")
_LOCK_TIMEOUT = sa.text("SELECT current_setting('lock_timeout')")
_SET_LOCK_TIMEOUT = sa.text("SELECT set_config('lock_timeout', :value, true)")

# The check as an SQL expression, for a write made in one statement: true while no restore
# applies, and then its shared lock holds until that statement's transaction ends, so no restore
# begins under the write. It spares the write the probe's round trip.
OPEN = f"pg_try_advisory_xact_lock_shared({GATE})"


async def shut(conn: AsyncConnection, wait_seconds: float = WAIT_SECONDS) -> None:
    """Hold both locks until conn's transaction ends, once the writes in flight have ended.

    RestoreInProgress when another restore applies; RestoreBusy when writes keep the gate past
    wait_seconds (conn's transaction is then aborted: roll it back).
    """
    if not (await conn.execute(_CLAIM)).scalar_one():
        raise errors.RestoreInProgress("Another restore is being applied.")
    before = (await conn.execute(_LOCK_TIMEOUT)).scalar_one()
    await conn.execute(_SET_LOCK_TIMEOUT, {"value": f"{max(1, round(wait_seconds * 1000))}ms"})
    try:
        await conn.execute(_SHUT)
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise errors.RestoreBusy(f"Writes in flight did not end within {wait_seconds:g} s.") from None
    await conn.execute(_SET_LOCK_TIMEOUT, {"value": before})  # what follows (the table locks) waits as it always did


async def check(engine: AsyncEngine) -> None:
    """RestoreInProgress while a restore applies."""
    async with db_engine.autocommit(engine) as conn:  # the shared lock is taken and let go within the statement
        is_open = (await conn.execute(_OPEN)).scalar_one()
    if not is_open:
        raise errors.RestoreInProgress()
