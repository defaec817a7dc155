"""A worker's drain: on SIGTERM or SIGINT it takes no more jobs, recovers nobody's, and proves it is alive until its last job ends.

procrastinate's own shutdown cancels the worker's heartbeat and only then waits up to
SOMA_WORKER_DRAIN_SECONDS for the running jobs. A drain longer than a stalled threshold then looked
like a death: another worker (or this one's own recovery loop, still running) queued the draining
worker's turns again, and the SLM was asked twice, with tools that act, an action done twice.

So the first signal, in this order:
1. cancels this worker's recovery loop: a worker on its way out takes on nobody's jobs;
2. writes this worker's heartbeat at once, and again every SOMA_WORKER_HEARTBEAT_SECONDS until
   procrastinate unregisters the worker, which it does after the last job has ended or, at the
   drain's deadline, been cancelled and handed back to the queue (tasks.TurnRetry);
3. asks procrastinate to stop taking jobs and drain.

While it drains, every other worker sees a live heartbeat and leaves its jobs alone. A second signal
is not caught: it ends the process at once, and the jobs it held run again once its heartbeat is
older than the stalled threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import procrastinate
import procrastinate.worker

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drain:
    """Begins the drain of one procrastinate worker (once), and keeps its heartbeat until it has unregistered."""

    def __init__(
        self, app: procrastinate.App, worker: procrastinate.worker.Worker, heartbeat_seconds: float, recovering: asyncio.Task[None]
    ) -> None:
        self._app = app
        self._worker = worker
        self._heartbeat_seconds = heartbeat_seconds
        self._recovering = recovering
        self._beating: asyncio.Task[None] | None = None

    def begin(self) -> None:
        """Stop recovering, keep the heartbeat, and ask the worker to stop; a second call changes nothing."""
        if self._beating is not None:
            return
        log.info("draining: no more jobs taken; running ones get up to %gs to finish", self._worker.shutdown_graceful_timeout or 0)
        self._recovering.cancel()
        self._beating = asyncio.create_task(self._keep_alive(), name="drain heartbeat")
        self._worker.stop()

    async def close(self) -> None:
        """Stop the heartbeat: the worker has returned, so it has unregistered (or it crashed, and must look dead)."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating

    async def _keep_alive(self) -> None:
        # worker_id turns None right after procrastinate deletes the worker's row, after its last job.
        while (worker_id := self._worker.worker_id) is not None:
            try:
                await self._app.job_manager.update_heartbeat(worker_id)
            except Exception as exc:  # the database is away: try again; the stalled threshold still exceeds the drain
                log.warning("draining worker %s could not write its heartbeat (%s); trying again in %gs", worker_id, exc, self._heartbeat_seconds)
            await asyncio.sleep(self._heartbeat_seconds)


@contextlib.contextmanager
def on_signals(drain: Drain) -> Iterator[None]:
    """Begin the drain on the first SIGTERM or SIGINT; after it, those signals act as they would without Soma."""
    loop = asyncio.get_running_loop()

    def first() -> None:
        _uninstall(loop)
        drain.begin()

    for signum in SIGNALS:
        loop.add_signal_handler(signum, first)
    try:
        yield
    finally:
        _uninstall(loop)


def _uninstall(loop: asyncio.AbstractEventLoop) -> None:
    for signum in SIGNALS:
        loop.remove_signal_handler(signum)  # back to the default action: a second signal ends the process
