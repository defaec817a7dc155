"""One LISTEN connection per gateway process that wakes the SSE streams of the sessions that changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import psycopg

from soma.db import url as db_url

log = logging.getLogger(__name__)

CHANNEL = "soma_session_events"
RECONNECT_DELAY = 1.0  # seconds between attempts to get the LISTEN connection back


class Subscription:
    """A stream's wake-up flag: set when its session has new events."""

    def __init__(self, notifier: Notifier, session_id: str) -> None:
        self._notifier = notifier
        self.session_id = session_id
        self._flag = asyncio.Event()

    def wake(self) -> None:
        """Tell the stream to read the log again."""
        self._flag.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for news; False on timeout. The flag is cleared, so read the log after this returns."""
        try:
            await asyncio.wait_for(self._flag.wait(), timeout)
        except TimeoutError:
            return False
        self._flag.clear()
        return True

    def close(self) -> None:
        """Stop receiving wake-ups."""
        self._notifier._unsubscribe(self)


class Notifier:
    """Fans NOTIFYs on CHANNEL out to subscribed streams; reconnects, waking everyone, after a failure."""

    def __init__(self, database_url: str) -> None:
        self._url = db_url.for_libpq(database_url)
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, session_id: str) -> Subscription:
        """Subscribe before reading the log, so no event falls between the read and the wait."""
        sub = Subscription(self, session_id)
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
                    self._wake_all()  # anything written while we were not listening gets read now
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.0fs", exc, RECONNECT_DELAY)
            self._wake_all()
            await asyncio.sleep(RECONNECT_DELAY)

    def _dispatch(self, payload: str) -> None:
        session_id = payload.partition(":")[0]
        for sub in list(self._subscribers.get(session_id, ())):
            sub.wake()

    def _wake_all(self) -> None:
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.wake()
