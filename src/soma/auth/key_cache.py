"""API keys this gateway authenticated moments ago, so a busy integration does not pay a database round trip per request.

An entry is trusted for TTL_SECONDS, never past the key's own expiry, and only while the gateway's
LISTEN connection is up: whatever ends a key (revoke, revoke-all, the emergency stop) NOTIFYs every
gateway in the transaction that ends it (soma.auth.ending), and the notifier drops the entry when
that arrives. When the connection is lost, nothing here is trusted until it is back and emptied.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from soma.auth import ending
from soma.auth.principal import Principal

TTL_SECONDS = 5.0  # also how often a key in constant use reaches the database (and its last_used_at)
MAX_ENTRIES = 10_000  # keys; a flood of distinct (unknown) keys is never cached, so this is only a bound


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until: float  # time.monotonic() after which the database is asked again


class KeyCache:
    """Principals by key digest (soma.auth.tokens.digest); empty and unused while `listening` is false."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._listening = False

    def listening(self, up: bool) -> None:
        """The notifier's LISTEN connection came up (trust entries from now on) or went down (forget them all)."""
        self._listening = up
        self._entries.clear()

    def get(self, digest: str) -> Principal | None:
        """The key's principal if it was authenticated within TTL_SECONDS and nothing has ended it since."""
        entry = self._entries.get(digest)
        if entry is None or not self._listening:
            return None
        if time.monotonic() >= entry.until:
            del self._entries[digest]
            return None
        return entry.principal

    def put(self, digest: str, principal: Principal, expires_at: datetime.datetime | None) -> None:
        """Remember a key the database just accepted."""
        if not self._listening or len(self._entries) >= MAX_ENTRIES:
            return
        until = time.monotonic() + TTL_SECONDS
        if expires_at is not None:
            left = (expires_at - datetime.datetime.now(datetime.UTC)).total_seconds()
            until = min(until, time.monotonic() + left)
        self._entries[digest] = _Entry(principal, until)

    def forget(self, names: frozenset[str]) -> None:
        """Drop the keys a credentials_ended NOTIFY names (`key:<id>`, or `key:*` for all)."""
        if ending.EVERY_KEY in names:
            self._entries.clear()
            return
        for digest, entry in list(self._entries.items()):
            if ending.key(entry.principal.id) in names:
                del self._entries[digest]

    def clear(self) -> None:
        self._entries.clear()
