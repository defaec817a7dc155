"""The restore gate: while a restore applies, writes to what it replaces are refused with 503 restore_in_progress.

The gate is a PostgreSQL advisory lock taken by the apply's own transaction, so every gateway
replica sees it, and a killed gateway or a rolled-back apply opens it again by itself: nothing
can leave it stuck shut.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma import errors
from soma.db import engine as db_engine

_KEY = "hashtextextended('soma.restore', 0)"
_SHUT = sa.text(f"SELECT pg_try_advisory_xact_lock({_KEY})")
# A shared lock conflicts only with the apply's exclusive one; taken and let go in one statement.
_OPEN = sa.text(f"SELECT pg_try_advisory_xact_lock_shared({_KEY})")

# The gate's check as an SQL expression, for a write made in one statement: true while the gate is
# open, and then its shared lock holds until that statement's transaction ends, so no restore
# begins under the write. It spares the write the probe's round trip.
OPEN = f"pg_try_advisory_xact_lock_shared({_KEY})"

# The API paths whose writes a restore would overwrite (admin, auth and restores themselves stay open).
GUARDED_PATHS = ("/v1/sessions", "/v1/memories", "/v1/knowledge", "/v1/settings", "/v1/chat/completions")
# Writes that check OPEN in their own statement: posting a message (messages.post_user_message).
CHECKED_INSIDE = re.compile(r"/v1/sessions/[^/]+/messages")


async def shut(conn: AsyncConnection) -> None:
    """Shut the gate until conn's transaction ends; RestoreInProgress when another restore holds it."""
    if not (await conn.execute(_SHUT)).scalar_one():
        raise errors.RestoreInProgress("Another restore is being applied.")


async def check(engine: AsyncEngine) -> None:
    """RestoreInProgress while a restore applies."""
    async with db_engine.autocommit(engine) as conn:  # the shared lock is taken and let go within the statement
        is_open = (await conn.execute(_OPEN)).scalar_one()
    if not is_open:
        raise errors.RestoreInProgress()


def guards(method: str, path: str) -> bool:
    """Whether a request would change what a restore replaces, and does not check the gate itself."""
    if method == "POST" and CHECKED_INSIDE.fullmatch(path):
        return False
    return method not in ("GET", "HEAD", "OPTIONS") and path.startswith(GUARDED_PATHS)
