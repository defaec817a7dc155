"""A turn's event writer: one connection for the whole stream, deltas batched while a write is in flight."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.conversations import events

_DONE = object()


class EventWriter:
    """Appends a turn's streamed events in order without making the SLM stream wait for the database.

    Text pieces that arrive while the previous write commits go out as one `assistant.delta`,
    so under load the batches grow instead of the backlog. Writes commit without waiting for
    the disk: a lost delta costs nothing, since the final message is committed durably.
    """

    def __init__(self, engine: AsyncEngine, session_id: uuid.UUID, reply_to: int) -> None:
        self._engine = engine
        self._session_id = session_id
        self._reply_to = reply_to
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventWriter:
        conn = await self._engine.connect()
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("SET synchronous_commit = off"))
        self._task = asyncio.create_task(self._run(conn))
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
            task, self._task = self._task, None
            await task

    async def _run(self, conn: AsyncConnection) -> None:
        try:
            done = False
            while not done:
                items = [await self._queue.get()]
                while not self._queue.empty():
                    items.append(self._queue.get_nowait())
                done = items[-1] is _DONE
                await self._write(conn, [i for i in items if i is not _DONE])
        finally:
            try:
                await conn.execute(sa.text("RESET synchronous_commit"))
            except sa.exc.DBAPIError:
                await conn.invalidate()  # a broken connection must not go back to the pool
            await conn.close()

    async def _write(self, conn: AsyncConnection, items: list[Any]) -> None:
        pieces: list[str] = []
        for item in items:
            if isinstance(item, str):
                pieces.append(item)
                continue
            await self._write_delta(conn, pieces)
            pieces = []
            await events.append(conn, self._session_id, item[0], item[1])
        await self._write_delta(conn, pieces)

    async def _write_delta(self, conn: AsyncConnection, pieces: list[str]) -> None:
        if pieces:
            data = {"reply_to": self._reply_to, "text": "".join(pieces)}
            await events.append(conn, self._session_id, events.ASSISTANT_DELTA, data)
