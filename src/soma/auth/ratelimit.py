"""Login rate limits, counted from the audit log's failed logins so every gateway shares them."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables

WINDOW = datetime.timedelta(minutes=15)
PER_ACCOUNT = 5  # failures per username per window
PER_ADDRESS = 20  # failures per client address per window (one address trying many names)
FAILED = "auth.login.failed"

_a = tables.audit_log


async def check(conn: AsyncConnection, username: str, address: str | None) -> None:
    """TooManyLoginAttempts when this account or this address failed too often lately."""
    recent = sa.and_(_a.c.action == FAILED, _a.c.at > sa.func.now() - WINDOW)
    by_account = await _count(conn, sa.and_(recent, _a.c.target == username.lower()))
    if by_account >= PER_ACCOUNT:
        raise errors.TooManyLoginAttempts(f"{by_account} failed logins for this account in the last {_minutes()} minutes.", _retry_after())
    if address and await _count(conn, sa.and_(recent, _a.c.client_address == address)) >= PER_ADDRESS:
        raise errors.TooManyLoginAttempts(f"Too many failed logins from {address} in the last {_minutes()} minutes.", _retry_after())


async def _count(conn: AsyncConnection, condition) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(_a).where(condition))).scalar_one()


def _minutes() -> int:
    return int(WINDOW.total_seconds() // 60)


def _retry_after() -> int:
    return int(WINDOW.total_seconds())
