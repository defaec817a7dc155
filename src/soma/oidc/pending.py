"""Logins started at the provider and not yet finished: one row each, bound to the browser that started it, used once.

`begin` makes the state, nonce, PKCE verifier and a binding token for a cookie in the browser that asked; only the
digests of the state and of the binding token are stored. `take` deletes the row its state names, in its own
transaction, so a callback is answered once however often it comes, and returns it only when the same browser
brings it back within LIFETIME (docs/security.md, "Single sign-on").
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.auth import tokens
from soma.db import tables

LIFETIME = datetime.timedelta(minutes=10)  # from leaving Soma to coming back from the provider
MAX_NEXT_CHARS = 2000
# Unfinished logins one client address may hold: a person needs a few (tabs, retries); a stranger looping on
# GET /v1/auth/oidc/login gets 429 instead of filling the table.
MAX_PER_ADDRESS = 30
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what tokens.new_token() makes: 256 bits, URL-safe base64
_l = tables.oidc_logins


@dataclass(frozen=True)
class Started:
    """A login just begun: what goes to the provider (state, nonce, verifier) and into the browser's cookie (browser)."""

    state: str
    nonce: str
    code_verifier: str
    browser: str


@dataclass(frozen=True)
class Pending:
    """A login taken back at the callback."""

    nonce: str
    code_verifier: str
    next_path: str


async def begin(conn: AsyncConnection, next_path: str, client_address: str | None, browser: str | None = None) -> Started:
    """A new started login returning to `next_path` (already made safe); forgets the logins left unfinished.

    `browser` is the binding cookie this browser already holds, kept so sign-ins started in two tabs both finish;
    a new one is made when it has none. TooManyLoginAttempts when this address holds MAX_PER_ADDRESS unfinished ones.
    """
    await conn.execute(sa.delete(_l).where(_l.c.expires_at < sa.func.now()))
    same = _l.c.client_address == client_address if client_address else _l.c.client_address.is_(None)
    held = (await conn.execute(sa.select(sa.func.count()).select_from(_l).where(same))).scalar_one()
    if held >= MAX_PER_ADDRESS:
        minutes = int(LIFETIME.total_seconds() // 60)
        raise errors.TooManyLoginAttempts(f"{held} sign-ins started from your address in the last {minutes} minutes are unfinished.", int(LIFETIME.total_seconds()))
    kept = browser if browser and _TOKEN.fullmatch(browser) else None
    started = Started(tokens.new_token(), tokens.new_token(), secrets.token_urlsafe(64), kept or tokens.new_token())
    await conn.execute(sa.insert(_l).values(
        state_hash=tokens.digest(started.state), browser_hash=tokens.digest(started.browser), nonce=started.nonce,
        code_verifier=started.code_verifier, next_path=next_path, client_address=client_address, expires_at=sa.func.now() + LIFETIME,
    ))  # fmt: skip
    return started


async def take(conn: AsyncConnection, state: str, browser: str | None) -> Pending | None:
    """The login `state` names, deleted; None when unknown, used, expired, or brought back by another browser."""
    query = sa.delete(_l).where(_l.c.state_hash == tokens.digest(state)).returning(
        _l.c.browser_hash, _l.c.nonce, _l.c.code_verifier, _l.c.next_path, (_l.c.expires_at > sa.func.now()).label("live")
    )
    row = (await conn.execute(query)).one_or_none()
    if row is None or not row.live or not browser:
        return None
    if not hmac.compare_digest(row.browser_hash, tokens.digest(browser)):
        return None
    return Pending(row.nonce, row.code_verifier, row.next_path)


def safe_next(value: str | None) -> str:
    """A path on this site to return to after login, else `/`: never another origin (`//evil`, `/\\evil`, `https:`)."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/") or value[1:2] in ("/", "\\"):
        return "/"
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in value):  # browsers drop tabs and newlines, and read \ as /
        return "/"
    return value
