"""`soma slm`: rotate the SLM key, check it, serve the local SLM."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Optional

import typer

from soma import errors, startup
from soma.cli.common import KEY_VARS, SLM_VARS, app, fail, settings as _settings

slm_app = typer.Typer(help="The SLM and its API key.", no_args_is_help=True)
app.add_typer(slm_app, name="slm")


@slm_app.command("rotate-key", help=f"Store a new SLM key in Vault after checking it against the SLM. Reads {KEY_VARS}, {SLM_VARS}.")
def rotate_key(
    reason: str = typer.Option("scheduled rotation", help="Why; kept in Vault's metadata and Soma's audit log."),
    ticket: Optional[str] = typer.Option(None, help="Change or incident ticket id."),
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="Read the key from this file [default: standard input]."),
) -> None:
    from soma.audit import log as audit
    from soma.slm import rotate

    settings = _settings()
    try:
        key = rotate.parse_key(_key_input(from_file))
        request = rotate.Request(key, reason, ticket, audit.cli_actor())
        result = asyncio.run(rotate.rotate(settings, request))
    except errors.SomaError as exc:
        fail(exc)
    was = f" (was version {result.previous})" if result.previous else ""
    typer.echo(f"rotated: {result.location} is now version {result.version}{was}; the SLM accepted the new key.")
    typer.echo(f"Gateways and workers use it within {settings.secret_reload_seconds:g}s, no restart needed.")
    typer.echo("Record the rotation in docs/changelog.md (runbook 3, step 6).")


def _key_input(path: Path | None) -> str:
    if path is not None:
        try:
            return path.read_text()
        except OSError as exc:
            raise errors.BadKeyInput(f"Cannot read --from-file {path} ({exc.strerror}).") from exc
    if sys.stdin.isatty():
        return getpass.getpass("New SLM API key (not echoed): ")
    return sys.stdin.read()


@slm_app.command(help=f"Authenticate against the SLM with the key Soma would use now; exit 0 or 1. Reads {KEY_VARS}, {SLM_VARS}.")
def check() -> None:
    from soma.secrets import watch
    from soma.slm import client as slm
    
    settings = _settings()

    async def run() -> str:
        keys = watch.SecretWatcher(settings)
        reading = await asyncio.to_thread(keys.load)
        model = slm.SLMClient(slm.SLMConfig.from_settings(settings), keys)
        try:
            await model.check()
        finally:
            await model.aclose()
        return reading.label

    try:
        label = asyncio.run(run())
    except errors.SomaError as exc:
        fail(exc)
    typer.echo(f"ok: the SLM at {settings.slm_base_url} accepted the key from {label}.")


@slm_app.command(help="Serve the local SLM (Gemma 3 270M on llama.cpp, needs the local-slm extra) in the foreground, "
                 f"e.g. in a container. Its API key is the SLM key Soma reads ({KEY_VARS}).")  # fmt: skip
def serve(
    host: str = typer.Option("127.0.0.1", help="Listen address."),
    port: int = typer.Option(8000, help="Listen port."),
) -> None:
    from soma.secrets import watch
    from soma.slm import llama_server, local

    settings = _settings()
    try:
        reading = watch.SecretWatcher(settings).load()
        if reading.value is None:
            raise errors.SLMAuthFailed(f"The local SLM needs a key to require: {reading.missing} ({reading.origin}).")
        model = local.model_path(settings.data_dir)
    except errors.SomaError as exc:
        fail(exc)
    ready = lambda address: typer.echo(f"local SLM ready at {address}/v1, key from {reading.label}", err=True)  # noqa: E731
    startup.done()
    try:
        llama_server.run(model, host, port, reading.value, on_ready=ready)
    except errors.SomaError as exc:
        fail(exc)
