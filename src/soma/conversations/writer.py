"""A turn's event writer: the answer's pieces coalesced into few deltas, each batch written on a pooled connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from soma.conversations import events
from soma.conversations.timeline import Timeline

_DONE = object()


class _Durable:
    """Events `commit` waits for: written after everything queued before them, in one statement that waits for the disk."""

    def __init__(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        self.items = items
        self.written: asyncio.Future[None] = asyncio.get_running_loop().create_future()


# After the first delta, pieces are written at most this often. Each delta costs a statement, a
# NOTIFY and an SSE frame on every gateway stream of the chat, about 2 ms of CPU in all; an SLM
# streaming a token every 10 ms across 16 chats spent more than the two cores had, and the turns
# queued behind it started hundreds of ms late. 40 ms is below what a reader notices.
DELTA_INTERVAL = 0.04


class EventWriter:
    """Appends a turn's streamed events in order without making the SLM stream wait for the database.

    The first piece of the answer is written at once (it is the time to first token); later pieces
    are gathered for DELTA_INTERVAL, and while a write commits, so a delta holds what came
    meanwhile. `writes` is an engine from db.engine.create_for_events (autocommit, commits not
    waiting for the disk: a lost delta costs nothing, since the final message is committed
    durably); each batch borrows a connection, so a turn holds none while it waits on the SLM.

    What must survive a crash (a tool step) goes through `commit`: the pieces queued before it and
    its events are written in one statement on `durable`, an engine whose commits wait for the disk.
    """

    def __init__(
        self, writes: AsyncEngine, session_id: uuid.UUID, reply_to: int, timeline: Timeline | None = None, durable: AsyncEngine | None = None
    ) -> None:
        self._writes = writes
        self._durable = durable or writes
        self._session_id = session_id
        self._reply_to = reply_to
        self._timeline = timeline
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._hurry = asyncio.Event()  # set when someone waits for the queue: the gathering of pieces stops
        self._task: asyncio.Task[None] | None = None
        self._wrote_delta = False

    async def __aenter__(self) -> EventWriter:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.flush()

    def delta(self, text: str) -> None:
        """Queue a piece of the answer."""
        self._queue.put_nowait(text)

    def event(self, type_: str, data: dict[str, Any]) -> None:
        """Queue any other event, written after the pieces queued before it."""
        self._queue.put_nowait((type_, data))

    async def flush(self) -> None:
        """Wait until everything queued is written; raises what the writing raised."""
        if self._task is not None:
            self._queue.put_nowait(_DONE)
            self._hurry.set()
            task, self._task = self._task, None
            await task

    async def commit(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Write what is queued, then `items` (type, data), in one statement that waits for the disk; return once it has.

        Concurrent commits (the calls of one step finishing together) are written in the order they
        came. Being cancelled does not take the items back: they are written all the same.
        """
        assert self._task is not None, "commit is for a writer in use"
        durable = _Durable(items)
        self._queue.put_nowait(durable)
        self._hurry.set()
        await asyncio.wait({durable.written, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not durable.written.done():
            self._task.result()  # the writer failed: raise what it raised
        await durable.written

    async def _run(self) -> None:
        done = False
        last_delta = 0.0
        while not done:
            items = [await self._queue.get()]
            wait = last_delta + DELTA_INTERVAL - time.monotonic()
            if self._wrote_delta and wait > 0 and isinstance(items[0], str) and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):  # gather the pieces that come meanwhile into this delta
                    await asyncio.wait_for(self._hurry.wait(), wait)
            self._hurry.clear()
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            done = items[-1] is _DONE
            batch: list[Any] = []
            for item in items:
                if isinstance(item, _Durable):
                    if await self._write_durably(batch, item):
                        last_delta = time.monotonic()
                    batch = []
                elif item is not _DONE:
                    batch.append(item)
            if batch and await self._write_batch(batch):
                last_delta = time.monotonic()

    async def _write_batch(self, items: list[Any]) -> bool:
        async with self._writes.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")  # already so on a create_for_events engine
            raw = (await conn.get_raw_connection()).driver_connection
            async with raw.cursor() as cursor:
                return await self._write(cursor, items)

    async def _write_durably(self, items: list[Any], durable: _Durable) -> bool:
        """The queued items before `durable` and its events, in one statement on the durable engine; True when a delta was among them."""
        pieces = [item for item in items if isinstance(item, str)]
        appended = [item for item in items if not isinstance(item, str)]
        if pieces and appended:  # events between pieces keep their order only through the ordinary path
            wrote = await self._write_batch(items)
            pieces, appended = [], []
        else:
            wrote = bool(pieces)
        if pieces:
            appended = [(events.ASSISTANT_DELTA, {"reply_to": self._reply_to, "text": "".join(pieces)})]
            self._delta_written()
        params = {"session_id": self._session_id, "events": json.dumps([{"type": t, "data": d} for t, d in [*appended, *durable.items]])}
        async with self._durable.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")  # one statement: its own transaction
            raw = (await conn.get_raw_connection()).driver_connection
            async with raw.cursor() as cursor:
                await cursor.execute(events.APPEND_MANY_DRIVER_SQL, params, prepare=True)
        if not durable.written.done():
            durable.written.set_result(None)
        return wrote

    async def _write(self, cursor: Any, items: list[Any]) -> bool:
        """Write the items in order; True when a delta was among them."""
        pieces: list[str] = []
        wrote = False
        for item in items:
            if isinstance(item, str):
                pieces.append(item)
                continue
            wrote |= await self._write_delta(cursor, pieces)
            pieces = []
            await self._append(cursor, item[0], item[1])
        return await self._write_delta(cursor, pieces) or wrote

    async def _write_delta(self, cursor: Any, pieces: list[str]) -> bool:
        if not pieces:
            return False
        await self._append(cursor, events.ASSISTANT_DELTA, {"reply_to": self._reply_to, "text": "".join(pieces)})
        self._delta_written()
        return True

    def _delta_written(self) -> None:
        if not self._wrote_delta and self._timeline is not None:
            self._timeline.mark("first_delta")
        self._wrote_delta = True

    async def _append(self, cursor: Any, type_: str, data: dict[str, Any]) -> None:
        params = {"session_id": self._session_id, "type": type_, "data": json.dumps(data)}
        await cursor.execute(events.APPEND_DRIVER_SQL, params, prepare=True)  # prepared once per connection
