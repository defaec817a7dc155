"""`soma emergency-stop`: take every Soma process dark (runbook 5), or lift the lockdown; works with no gateway up."""

from __future__ import annotations

import typer

from soma import errors
from soma.cli.common import DB_VARS, KEY_VARS, app, fail, on_database, settings as _settings


@app.command(
    "emergency-stop",
    help="Lock Soma down now: switch the tunnel off, revoke every API key and login session, refuse every request "
    "but /health, /ready and /metrics with 503 lockdown, close event streams, cancel running turns (queued turns wait), "
    "and with --revoke-slm-key delete the SLM key's current version in Vault. Each step is timed and reported; the "
    "incident report goes to the audit log and SOMA_DATA_DIR/incidents/. Safe to run again. Exit 0 when every step "
    f"succeeded. --lift ends the lockdown (keys stay revoked). Reads {DB_VARS}, {KEY_VARS}. "
    "See docs/runbooks/emergency-shutdown.md.",
)
def emergency_stop(
    reason: str = typer.Option(..., help="Why; kept in the audit log and the incident report."),
    revoke_slm_key: bool = typer.Option(False, "--revoke-slm-key", help="Also delete the SLM key's current version in Vault."),
    lift: bool = typer.Option(False, "--lift", help="End the lockdown instead; API keys and login sessions stay revoked."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    from soma.audit import log as audit
    from soma.auth import admin
    from soma.emergency import stop

    if not reason.strip():
        fail(errors.BadSetting("--reason is empty: say why, for the incident report."))
    if lift and revoke_slm_key:
        fail(errors.BadSetting("--revoke-slm-key does nothing with --lift: rotate the key with `soma slm rotate-key`."))
    if not yes and not lift:
        _confirm()
    settings = _settings()
    actor = admin.Actor(audit.cli_actor())
    show = lambda step: typer.echo(step.line())  # noqa: E731  (each step as soon as it is done)
    if lift:
        report = on_database(lambda engine: stop.lift(engine, settings, reason.strip(), actor, on_step=show))
    else:
        report = on_database(lambda engine: stop.stop(engine, settings, reason.strip(), actor, revoke_slm_key, on_step=show))
    typer.echo("")
    typer.echo(report.text(), nl=False)
    if report.failed:
        fail(errors.EmergencyStepFailed(f"Step {', '.join(report.failed)} failed."))


def _confirm() -> None:
    question = "Revoke every API key and login session and lock Soma down until `soma emergency-stop --lift`?"
    try:
        agreed = typer.confirm(question, default=False)
    except typer.Abort:
        agreed = False
    if not agreed:
        typer.echo("cancelled: nothing was done (add --yes to run without asking).", err=True)
        raise typer.Exit(1)
