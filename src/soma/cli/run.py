"""The `soma` command; the only place errors become exit codes."""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import typer
import uvicorn

from soma import config, errors, logs
from soma.config import env_names

app = typer.Typer(help="Soma: a self-hosted AI agent platform.", no_args_is_help=True, add_completion=False)
log = logging.getLogger("soma")

DB_VARS = env_names("database_url", "data_dir")
SLM_VARS = env_names("slm_base_url", "slm_model", "slm_api_key", "slm_max_tokens", "slm_connect_timeout", "slm_read_timeout", "slm_max_attempts")
WORKER_VARS = env_names("worker_concurrency", "worker_drain_seconds", "worker_heartbeat_seconds", "worker_stalled_seconds")
GATEWAY_VARS = env_names("host", "port", "max_message_chars", "sse_keepalive_seconds")


def _settings() -> config.Settings:
    settings = config.get()
    logs.setup(settings.log_level)
    return settings


def _fail(exc: errors.SomaError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    cause = exc.__cause__
    while cause is not None:
        typer.echo(f"  caused by: {type(cause).__name__}: {cause}", err=True)
        cause = cause.__cause__
    raise typer.Exit(1)


@app.command(help=f"Apply Soma's and procrastinate's schema migrations. Reads {DB_VARS}.")
def migrate() -> None:
    from soma.db import location
    from soma.db import migrate as db_migrate

    settings = _settings()
    try:
        database = location.open_database(settings)
        try:
            applied = db_migrate.upgrade(database.url)
        finally:
            database.stop()
    except errors.SomaError as exc:
        _fail(exc)
    typer.echo("\n".join(f"applied: {step}" for step in applied) if applied else "schema is current")


@app.command(help=f"Serve the HTTP API, event streams and web UI. Reads {DB_VARS}, {GATEWAY_VARS}.")
def gateway(
    host: Optional[str] = typer.Option(None, help="Listen address [default: SOMA_HOST or 127.0.0.1]."),
    port: Optional[int] = typer.Option(None, help="Listen port [default: SOMA_PORT or 8080]."),
) -> None:
    from soma.db import engine as db_engine
    from soma.db import location
    from soma.db import migrate as db_migrate
    from soma.gateway import app as gateway_app

    settings = _settings()
    try:
        database = location.open_database(settings)
        asyncio.run(_check_schema(db_engine, db_migrate, database.url))
    except errors.SomaError as exc:
        _fail(exc)
    try:
        uvicorn.run(
            gateway_app.create(settings, database.url),
            host=host or settings.host,
            port=settings.port if port is None else port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=5,
        )
    finally:
        database.stop()


async def _check_schema(db_engine, db_migrate, url: str) -> None:
    engine = db_engine.create(url, pool_size=1)
    try:
        await db_migrate.check(engine)
    except errors.SchemaBehind:
        raise
    except Exception as exc:
        raise errors.DatabaseUnavailable(f"{type(exc).__name__}: {exc}.") from exc
    finally:
        await engine.dispose()


@app.command(help=f"Run turn jobs from the queue. Reads {DB_VARS}, {SLM_VARS}, {WORKER_VARS}.")
def worker() -> None:
    from soma.db import location
    from soma.worker import process

    settings = _settings()
    try:
        database = location.open_database(settings)
        try:
            asyncio.run(process.serve(settings, database.url))
        finally:
            database.stop()
    except errors.SomaError as exc:
        _fail(exc)


@app.command(
    help=f"Run everything on embedded defaults and print the URL to open. Reads {DB_VARS}, {GATEWAY_VARS}, {SLM_VARS}."
)
def up() -> None:
    from soma import up as all_in_one

    settings = _settings()
    try:
        code = all_in_one.run(settings, typer.echo)
    except errors.SomaError as exc:
        _fail(exc)
    raise typer.Exit(code)


def main() -> None:
    """Entry point of the `soma` console script."""
    app()
