"""The commands that run Soma: up, gateway, worker, migrate."""

from __future__ import annotations

from typing import Optional

import typer

from soma import errors, startup
from soma.cli.common import DB_VARS, GATEWAY_VARS, KEY_VARS, SLM_VARS, SSO_VARS, WORKER_VARS, app, fail, serve, settings as _settings


@app.command(help=f"Apply Soma's and procrastinate's schema migrations. Reads {DB_VARS}.")
def migrate() -> None:
    from soma.db import location
    from soma.db import migrate as db_migrate
    from soma.embeddings import reembed

    settings = _settings()
    try:
        database = location.open_database(settings)
        try:
            applied = db_migrate.upgrade(database.url, after=reembed.after_migration)
        finally:
            database.stop()
    except errors.SomaError as exc:
        fail(exc)
    typer.echo("\n".join(f"applied: {step}" for step in applied) if applied else "schema is current")


@app.command(help=f"Serve the HTTP API, event streams and web UI, and the tunnel's own door. Reads {DB_VARS}, {GATEWAY_VARS}, {KEY_VARS}, {SSO_VARS}.")
def gateway(
    host: Optional[str] = typer.Option(None, help="Listen address [default: SOMA_HOST or 127.0.0.1]."),
    port: Optional[int] = typer.Option(None, help="Listen port [default: SOMA_PORT or 8080]."),
) -> None:
    from soma.db import location
    from soma.gateway import app as gateway_app
    from soma.gateway import server
    from soma.auth import bootstrap
    from soma.secrets import watch

    settings = _settings()
    try:
        bootstrap.check(settings)
        database = location.open_migrated(settings)
        try:
            keys = watch.SecretWatcher(settings)
            keys.load()  # the gateway reports the SLM key on /ready; an unreachable Vault stops it here
            app = gateway_app.create(settings, database.url, keys)
            startup.done()
            server.run(app, settings, host or settings.host, settings.port if port is None else port)
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
    startup.done()
    try:
        code = all_in_one.run(settings, typer.echo)
    except errors.SomaError as exc:
        fail(exc)
    raise typer.Exit(code)
