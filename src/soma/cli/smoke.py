"""`soma smoke --url URL`: runbook 3's smoke test through a running gateway."""

from __future__ import annotations

import typer

from soma import errors
from soma.cli.common import app, fail, settings as _settings


@app.command(help="End-to-end check of a running Soma: create a chat, send a message, wait for the streamed reply, print timings. "
             "Authenticates with SOMA_API_KEY (a key with the chat scope).")  # fmt: skip
def smoke(
    url: str = typer.Option(..., help="The gateway's base URL, e.g. http://127.0.0.1:8080."),
    timeout: float = typer.Option(60.0, help="Seconds to wait for the whole reply."),
    message: str = typer.Option("Smoke test: reply with one short sentence.", help="What to send."),
) -> None:
    from soma import smoke as smoke_test

    settings = _settings()
    key = settings.api_key.get_secret_value() if settings.api_key else None
    try:
        result = smoke_test.run(url, message, timeout, key)
    except errors.SomaError as exc:
        fail(exc)
    for step, seconds in result.timings.items():
        typer.echo(f"{step:>22}: {seconds * 1000:8.1f} ms")
    typer.echo(f"ok: session {result.session_id} got a {len(result.reply)}-character reply.")
