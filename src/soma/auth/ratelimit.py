"""Login rate limits, counted from the audit log's failed logins so every gateway shares them.

Two limits, neither of which a stranger can aim at someone else's login:
- per client address: one address trying many names is refused for the window;
- per account *from one address*: after a few failures each further attempt must wait a delay
  that doubles with every failure. A hard per-account lock would let anyone who knows the
  admin's name lock the admin out; this delay slows a guesser and never touches a login
  from another address.
"""

from __future__ import annotations

import datetime
import math

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables

WINDOW = datetime.timedelta(minutes=15)
PER_ADDRESS = 20  # failures per client address per window (one address trying many names)
FREE_FAILURES = 3  # failures for one account from one address before attempts are delayed
MAX_DELAY = 300.0  # seconds; the delay doubles from 1 s per failure up to this
FAILED = "auth.login.failed"

_a = tables.audit_log


async def check(conn: AsyncConnection, username: str, address: str | None) -> None:
    """TooManyLoginAttempts when this address failed too often lately, or this account from it must still wait."""
    recent = sa.and_(_a.c.action == FAILED, _a.c.at > sa.func.now() - WINDOW)
    from_here = _a.c.client_address == address if address else _a.c.client_address.is_(None)
    if address and (await _failures(conn, sa.and_(recent, from_here)))[0] >= PER_ADDRESS:
        raise errors.TooManyLoginAttempts(
            f"Too many failed logins from {address} in the last {_minutes()} minutes.", int(WINDOW.total_seconds())
        )
    count, since_last = await _failures(conn, sa.and_(recent, from_here, _a.c.target == username.lower()))
    wait = delay(count) - since_last
    if wait > 0:
        raise errors.TooManyLoginAttempts(
            f"{count} failed logins for this account from your address in the last {_minutes()} minutes; "
            f"wait {math.ceil(wait)} s before trying again.",
            math.ceil(wait),
        )


def delay(failures: int) -> float:
    """Seconds an attempt must wait after the last of `failures` recent failures: 0, then 1, 2, 4… up to MAX_DELAY."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


async def _failures(conn: AsyncConnection, condition) -> tuple[int, float]:
    """How many failures match, and seconds since the latest of them (inf when none)."""
    since_last = sa.func.extract("epoch", sa.func.now() - sa.func.max(_a.c.at))
    count, seconds = (await conn.execute(sa.select(sa.func.count(), since_last).where(condition))).one()
    return count, math.inf if seconds is None else float(seconds)


def _minutes() -> int:
    return int(WINDOW.total_seconds() // 60)
