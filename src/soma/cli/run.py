"""The commands that run Soma: up, gateway, worker, migrate."""

from __future__ import annotations

from typing import Optional

import typer
import uvicorn

from soma import errors
from soma.cli.common import DB_VARS, GATEWAY_VARS, KEY_VARS, SLM_VARS, WORKER_VARS, app, fail, serve, settings as _settings


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
        fail(exc)
    typer.echo("\n".join(f"applied: {step}" for step in applied) if applied else "schema is current")


@app.command(help=f"Serve the HTTP API, event streams and web UI. Reads {DB_VARS}, {GATEWAY_VARS}, {KEY_VARS}.")
def gateway(
    host: Optional[str] = typer.Option(None, help="Listen address [default: SOMA_HOST or 127.0.0.1]."),
    port: Optional[int] = typer.Option(None, help="Listen port [default: SOMA_PORT or 8080]."),
) -> None:
    from soma.db import location
    from soma.gateway import app as gateway_app
    from soma.auth import bootstrap
    from soma.secrets import watch

    settings = _settings()
    try:
        bootstrap.check(settings)
        database = location.open_migrated(settings)
        try:
            keys = watch.SecretWatcher(settings)
            keys.load()  # the gateway reports the SLM key on /ready; an unreachable Vault stops it here
            uvicorn.run(
                gateway_app.create(settings, database.url, keys),
                host=host or settings.host,
                port=settings.port if port is None else port,
                log_level=settings.log_level.lower(),
                log_config=None,  # uvicorn's lines go through Soma's handler, as text or JSON
                access_log=False,  # the gateway logs one access line per request itself (soma.access)
                timeout_graceful_shutdown=5,
                proxy_headers=False,  # uvicorn would believe any loopback peer's X-Forwarded-For; access.py reads it per SOMA_TRUSTED_PROXIES
            )
        finally:
            database.stop()
    except errors.SomaError as exc:
        fail(exc)


@app.command(help=f"Run turn jobs from the queue. Reads {DB_VARS}, {SLM_VARS}, {KEY_VARS}, {WORKER_VARS}.")
def worker() -> None:
    from soma.worker import process

    serve(process.serve)


@app.command(
    help=f"Run everything on embedded defaults and print the URL to open. Reads {DB_VARS}, {GATEWAY_VARS}, {SLM_VARS}."
)
def up() -> None:
    from soma import up as all_in_one

    settings = _settings()
    try:
        code = all_in_one.run(settings, typer.echo)
    except errors.SomaError as exc:
        fail(exc)
    raise typer.Exit(code)
