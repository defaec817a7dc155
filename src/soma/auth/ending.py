"""Why a credential ended, and the NOTIFY that ends its open event streams on every gateway.

A stream knows its credential by names: an API key's stream answers to `key:<id>` and `key:*`,
a login's stream to `login:<id>`, `user:<user id>` and `login:*`. Whatever ends a credential
names it in `announce`, in the transaction that ends it, so the streams end only once it commits.
The reasons are what the stream's last event, `stream.ended`, says (docs/architecture.md).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from soma.auth.principal import Principal
from soma.conversations import events

KEY_REVOKED = "key_revoked"
KEY_EXPIRED = "key_expired"
LOGGED_OUT = "logged_out"  # the login session was ended: logout, or the emergency stop
PASSWORD_CHANGED = "password_changed"  # changed or reset: every session of the user ended
USER_DISABLED = "user_disabled"
SESSION_EXPIRED = "session_expired"  # idle or absolute expiry
ROLE_CHANGED = "role_changed"  # an admin became a member: the client reconnects to be authorized afresh

EVERY_KEY = "key:*"
EVERY_LOGIN = "login:*"


def key(key_id: int) -> str:
    """The name of an API key's streams."""
    return f"key:{key_id}"


def login(session_id: int) -> str:
    """The name of one login session's streams."""
    return f"login:{session_id}"


def user(user_id: int) -> str:
    """The name of the streams of every login session of a user."""
    return f"user:{user_id}"


def names_of(principal: Principal) -> frozenset[str]:
    """Every name an announcement may give the caller's credential."""
    if principal.kind == "key":
        return frozenset({key(principal.id), EVERY_KEY})
    assert principal.session_id is not None  # a user is always authenticated by a login session
    return frozenset({login(principal.session_id), user(principal.id), EVERY_LOGIN})


async def announce(conn: AsyncConnection, reason: str, *names: str) -> None:
    """End the open streams of these credentials on every gateway when the caller's transaction commits."""
    await events.end_streams_of(conn, list(names), reason)
