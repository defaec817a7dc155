"""`soma secrets status`: where each secret comes from, never its value."""

from __future__ import annotations

import typer

from soma import errors
from soma.cli.common import KEY_VARS, app, fail, settings as _settings

secrets_app = typer.Typer(help="Where Soma's secrets come from.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command(help=f"Show which source gives the SLM key and what every source holds (never the value). Reads {KEY_VARS}.")
def status() -> None:
    from soma.secrets import sources

    settings = _settings()
    try:
        candidates = sources.for_slm_key(settings)
        used = sources.chosen(candidates)
        reading = used.read()
    except errors.SomaError as exc:
        fail(exc)
    if reading.value is None:
        typer.echo(f"SLM API key: MISSING from {reading.origin}: {reading.missing}")
    else:
        typer.echo(f"SLM API key: from {reading.label}")
    typer.echo(f"  looked up in order: {settings.secret_sources}; the first configured source decides")
    for source in candidates:
        typer.echo(f"  {source.name:5} {_state(source, used)}")
    if reading.value is None:
        raise typer.Exit(1)


def _state(source, used) -> str:
    if source is used:
        return "in use"
    if not source.configured():
        return "not configured"
    try:
        shadowed = source.read()
    except errors.SomaError as exc:
        return f"configured, not readable: {exc.message}"
    held = "holds a key" if shadowed.value else f"holds no key ({shadowed.missing})"
    return f"configured, {held}, ignored: {used.name} comes first"
