"""`soma sandbox`: the service that runs the agent's code, each run in a fresh bubblewrap jail."""

from __future__ import annotations

from typing import Optional

import typer

from soma import errors, startup
from soma.cli.common import SANDBOX_VARS, app, fail, settings as _settings

KEY_MIN_CHARS = 32


@app.command(
    help="Run the agent's code for the worker, each run in a fresh bubblewrap jail (docs/architecture.md, The sandbox)."
    f" Refuses to start without a key. Reads {SANDBOX_VARS}."
)
def sandbox(
    host: Optional[str] = typer.Option(None, help="Listen address [default: SOMA_SANDBOX_HOST or 127.0.0.1]."),
    port: Optional[int] = typer.Option(None, help="Listen port [default: SOMA_SANDBOX_PORT or 8790]."),
) -> None:
    from soma.sandbox import service

    settings = _settings()
    key = settings.sandbox_key.get_secret_value().strip() if settings.sandbox_key else ""
    if len(key) < KEY_MIN_CHARS:
        fail(errors.SandboxKeyUnusable("SOMA_SANDBOX_KEY is not set." if not key else f"SOMA_SANDBOX_KEY has {len(key)} characters."))
    startup.done()
    service.serve(
        key, settings.sandbox_python, settings.sandbox_max_runs, host or settings.sandbox_host,
        settings.sandbox_port if port is None else port, settings.log_level,
    )  # fmt: skip
