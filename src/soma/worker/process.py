"""The worker process: turn, ingestion and scheduled backup jobs, stalled-turn recovery, drain on SIGTERM (drain.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import procrastinate.worker
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config
from soma.conversations import context, turn
from soma.db import engine as db_engine
from soma.embeddings import embedder
from soma.emergency import lockdown
from soma.observability import queues as queue_metrics
from soma.observability import server as metrics_server
from soma.secrets import watch
from soma.slm import client as slm
from soma.tools import pool as tool_pool
from soma.tools import sandbox_status
from soma.worker import drain, recovery, tasks

log = logging.getLogger(__name__)


POOL_SIZE = 16
FETCH_POLL_SECONDS = 1.0  # procrastinate's default is 5 s


async def serve(settings: config.Settings, database_url: str) -> None:
    """Run turns until SIGTERM/SIGINT, then finish running turns within the drain timeout.

    The caller has checked the database with `location.open_migrated`, as every command does.
    """
    model_config = slm.SLMConfig.from_settings(settings)
    keys = watch.SecretWatcher(settings)
    await asyncio.to_thread(keys.load)  # an unreachable Vault stops the worker here, naming SOMA_VAULT_ADDR
    # Turns use a connection only for short reads and the final write, so a few serve them all; up to
    # twice this with overflow, well under PostgreSQL's max_connections with the gateways beside.
    engine = db_engine.create(database_url, pool_size=min(settings.worker_concurrency + 2, POOL_SIZE))
    writes = db_engine.create_for_events(database_url)  # the turns' streamed events: few connections for any concurrency
    model = slm.SLMClient(model_config, keys)
    app = tasks.build_app(database_url, settings.backup_schedule)
    queues = tasks.queues(app)
    embedding_model = embedder.MiniLM()  # this process's one: its tasks get it in their context
    flag = lockdown.Watch(database_url)  # under lockdown, turns wait in the queue and running ones are cancelled
    flag.start()
    tools = tool_pool.Pool(engine, database_url, settings)  # the MCP tool servers, connected in the background
    sandbox = sandbox_status.Watch.from_settings(settings)  # run_code's sandbox service, checked now and then
    try:
        await tools.start()
        await sandbox.start(engine)
        await flag.first_read(timeout=5)
        warming = asyncio.create_task(context.warm_if_needed(engine, embedding_model))
        async with app.open_async():
            stalled = _stalled_threshold(settings)
            interval = settings.worker_heartbeat_seconds
            recovering = asyncio.create_task(recovery.run(engine, stalled, interval))
            reloading = asyncio.create_task(keys.run())
            scrapes = await _serve_metrics(settings, engine, queues)
            worker = procrastinate.worker.Worker(
                app,
                queues=list(queues),
                concurrency=settings.worker_concurrency,
                shutdown_graceful_timeout=settings.worker_drain_seconds,
                update_heartbeat_interval=interval,
                stalled_worker_timeout=stalled,
                delete_jobs="successful",
                # A NOTIFY that lands while the worker is between fetches is dropped by procrastinate
                # (it clears its flag after each fetch); polling every second bounds that wait.
                fetch_job_polling_interval=FETCH_POLL_SECONDS,
                install_signal_handlers=False,  # drain.on_signals: procrastinate's would stop the heartbeat
                additional_context={
                    "engine": engine,
                    "writes": writes,
                    "slm": model,
                    "embedder": embedding_model,
                    "limits": turn.TurnLimits(history_messages=settings.history_messages),
                    "backup_dir": settings.backup_dir,
                    "backup_keep": settings.backup_keep,
                    "lockdown": flag,
                    "tools": tools,  # .tools(): the MCP tools of the servers connected now
                    "sandbox": sandbox,  # .available: whether run_code can run now
                },
            )
            draining = drain.Drain(app, worker, interval, recovering)
            await tools.settle()  # connecting since tools.start(): a turn taken now gets the MCP tools
            _log_ready(settings, queues)
            try:
                with drain.on_signals(draining):
                    await worker.run()
            finally:
                await draining.close()
                if scrapes is not None:
                    scrapes.close()
                warming.cancel()
                reloading.cancel()
                recovering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recovering
    finally:
        await tools.close()  # after the drain: turns finishing meanwhile still had their tools
        await sandbox.close()
        await flag.stop()
        await model.aclose()
        await engine.dispose()
        await writes.dispose()
    log.info("worker stopped")


def _stalled_threshold(settings: config.Settings) -> float:
    """The seconds after which a silent worker is dead (config.Settings.worker_stalled_threshold), said when it raised the setting."""
    threshold = settings.worker_stalled_threshold
    configured = settings.worker_stalled_seconds
    if configured is not None and threshold > configured:
        log.warning(
            "SOMA_WORKER_STALLED_SECONDS=%g is shorter than SOMA_WORKER_DRAIN_SECONDS=%g plus %d heartbeats of %gs: "
            "a silent worker counts as dead after %gs instead",
            configured, settings.worker_drain_seconds, config.HEARTBEATS_BEFORE_STALLED, settings.worker_heartbeat_seconds, threshold,
        )  # fmt: skip
    return threshold


def _log_ready(settings: config.Settings, queues: tuple[str, ...]) -> None:
    """The line that says the worker takes jobs (tests wait for it), with the backup schedule when there is one."""
    backups = ""
    if settings.backup_schedule:
        backups = f"; backups at '{settings.backup_schedule}' UTC into {settings.backup_dir}, keeping {settings.backup_keep}"
    log.info("worker ready: queues %s, concurrency %d%s", ", ".join(queues), settings.worker_concurrency, backups)


async def _serve_metrics(settings: config.Settings, engine: AsyncEngine, queues: tuple[str, ...]) -> asyncio.Server | None:
    """/metrics and /health on SOMA_WORKER_METRICS_PORT, unless it is 0."""
    if not settings.worker_metrics_port:
        return None
    sampler = queue_metrics.QueueSampler(engine, queues)
    host = settings.worker_metrics_host or settings.host
    return await metrics_server.start(host, settings.worker_metrics_port, sampler)
