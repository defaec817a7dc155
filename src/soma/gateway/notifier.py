"""One LISTEN connection per gateway process that hands each session's new events to its SSE streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict, deque

import psycopg

from soma.auth.key_cache import KeyCache
from soma.conversations.events import CHANNEL, END_FOR_CREDENTIAL, END_FOR_LOCKDOWN, END_FOR_RESTORE, Event
from soma.db import url as db_url

log = logging.getLogger(__name__)

RECONNECT_DELAY = 1.0  # seconds between attempts to get the LISTEN connection back


class Subscription:
    """A stream's inbox: the events NOTIFY carried for its session, and a flag that says look."""

    MAX_PENDING = 1000  # a stream further behind than this reads the table instead

    def __init__(self, notifier: Notifier, session_id: str, credentials: frozenset[str]) -> None:
        self._notifier = notifier
        self.session_id = session_id
        self.credentials = credentials  # the names its credential answers to (soma.auth.ending)
        self._flag = asyncio.Event()
        self._pending: deque[Event] = deque()
        self._must_read = False
        self.restored: str | None = None  # the id of a restore applied since the stream began
        self.locked = False  # the emergency lockdown began: the stream must end
        self.ended: str | None = None  # why its credential ended: the stream must say so and end
        self.recheck = False  # the LISTEN connection was lost: a credential may have ended unannounced

    def deliver(self, event: Event | None) -> None:
        """Hand over an event from a NOTIFY; None when the payload was too big to carry it."""
        if event is None or len(self._pending) >= self.MAX_PENDING:
            self._must_read = True
            self._pending.clear()
        elif not self._must_read:
            self._pending.append(event)
        self._flag.set()

    def restore_applied(self, restore_id: str) -> None:
        """A restore replaced every chat: the stream must tell its client to reload."""
        self.restored = restore_id
        self._flag.set()

    def lock(self) -> None:
        """The emergency lockdown began: the stream must end."""
        self.locked = True
        self._flag.set()

    def end(self, reason: str) -> None:
        """Its credential ended (a soma.auth.ending reason): the stream must say why and end."""
        if self.ended is None:
            self.ended = reason
        self._flag.set()

    def wake(self) -> None:
        """Make the stream read the table and re-check its credential (after a lost connection, anything may have been missed)."""
        self.recheck = True
        self.deliver(None)

    async def wait(self, timeout: float) -> bool:
        """Wait for news; False on timeout."""
        try:
            await asyncio.wait_for(self._flag.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def take(self, cursor: int) -> list[Event] | None:
        """The delivered events that follow `cursor` without a gap, or None when the table must be read."""
        self._flag.clear()
        pending, self._pending = self._pending, deque()
        if self._must_read:
            self._must_read = False
            return None
        ready = []
        for event in pending:
            if event.id <= cursor:
                continue  # already sent from the table
            if event.id != cursor + 1:
                return None  # a gap: NOTIFY order is commit order, so read what is missing
            ready.append(event)
            cursor = event.id
        return ready

    def close(self) -> None:
        """Stop receiving events."""
        self._notifier._unsubscribe(self)


class Notifier:
    """Fans NOTIFYs on CHANNEL out to subscribed streams; reconnects, waking everyone, after a failure."""

    def __init__(self, database_url: str, keys: KeyCache | None = None) -> None:
        self._url = db_url.for_libpq(database_url)
        self.keys = keys or KeyCache()  # trusted only while this notifier listens; see soma.auth.key_cache
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, session_id: str, credentials: frozenset[str] = frozenset()) -> Subscription:
        """Subscribe before reading the log, so no event falls between the read and the wait."""
        sub = Subscription(self, session_id, credentials)
        self._subscribers[session_id].add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.session_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.session_id]

    @property
    def open_streams(self) -> int:
        """How many streams are subscribed."""
        return sum(len(s) for s in self._subscribers.values())

    def start(self) -> None:
        """Start listening in the background."""
        self._task = asyncio.create_task(self._listen_forever(), name="soma-notifier")

    async def stop(self) -> None:
        """Stop listening and wake every stream so it can end."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._wake_all()

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.keys.listening(True)
                    self._wake_all()  # anything written while we were not listening gets read now
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except asyncio.CancelledError:
                self.keys.listening(False)
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.0fs", exc, RECONNECT_DELAY)
            self.keys.listening(False)  # a key ended meanwhile would go unannounced
            self._wake_all()
            await asyncio.sleep(RECONNECT_DELAY)

    def lock_all(self) -> None:
        """End every open stream (the emergency lockdown)."""
        for sub in self._every_subscription():
            sub.lock()

    def _dispatch(self, payload: str) -> None:
        note = json.loads(payload)
        if END_FOR_LOCKDOWN in note:  # soma.emergency.stop: every stream ends
            self.keys.clear()
            self.lock_all()
            return
        if END_FOR_RESTORE in note:  # soma.backup.apply: every session changed
            for sub in self._every_subscription():
                sub.restore_applied(note[END_FOR_RESTORE])
            return
        if END_FOR_CREDENTIAL in note:  # soma.auth.ending: keys revoked, logins ended, users disabled
            ended = frozenset(note[END_FOR_CREDENTIAL])
            self.keys.forget(ended)
            for sub in self._every_subscription():
                if sub.credentials & ended:
                    sub.end(note["reason"])
            return
        subs = self._subscribers.get(note.get("s"))  # no "s": a payload of a newer version, for its own gateways
        if not subs:
            return
        event = Event(note["i"], note["t"], note["d"], None) if "t" in note else None
        for sub in list(subs):
            sub.deliver(event)

    def _wake_all(self) -> None:
        for sub in self._every_subscription():
            sub.wake()

    def _every_subscription(self) -> list[Subscription]:
        """A copy: a woken stream may unsubscribe while the caller goes through them."""
        return [sub for subs in list(self._subscribers.values()) for sub in list(subs)]
