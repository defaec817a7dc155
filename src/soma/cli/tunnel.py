"""`soma tunnel on|off|status|run`: public access through Cloudflare, switched in PostgreSQL directly."""

from __future__ import annotations

import enum
import json
from typing import Any, Optional

import typer

from soma.config import env_names
from soma.cli.common import DB_VARS, GATEWAY_VARS, KEY_VARS, TUNNEL_VARS, app, on_database, serve, settings as _settings

tunnel_app = typer.Typer(help="Public access through a Cloudflare tunnel.", no_args_is_help=True)
app.add_typer(tunnel_app, name="tunnel")


class Mode(str, enum.Enum):
    """The tunnel kinds of soma.tunnel.state.MODES."""

    token = "token"
    quick = "quick"


def _switch(enabled: bool, mode: str | None) -> dict[str, Any]:
    """Switch in one transaction with its audit entry, as the OS user; a refusal exits 1 naming the fix."""
    from soma.audit import log as audit
    from soma.auth import admin
    from soma.tunnel import state

    settings = _settings()

    async def work(engine: Any) -> dict[str, Any]:
        async with engine.begin() as conn:
            return await state.switch(conn, admin.Actor(audit.cli_actor()), settings, enabled, mode)

    return on_database(work)


@tunnel_app.command(help=f"Open the tunnel: refused while no admin has a password, a setup link is open or SOMA_PUBLIC_URL is unset; audited. Reads {DB_VARS}, {env_names('public_url')}.")
def on(
    mode: Optional[Mode] = typer.Option(None, help="token: a named tunnel; quick: a trycloudflare.com URL, for development [default: as before, first token]."),
) -> None:
    row = _switch(True, mode.value if mode else None)
    typer.echo(f"tunnel on ({row['mode']}); `soma tunnel run` starts cloudflared within a second. Check with `soma tunnel status`.")


@tunnel_app.command(help=f"Close the tunnel: the supervisor stops cloudflared within a second; audited. Reads {DB_VARS}.")
def off() -> None:
    _switch(False, None)
    typer.echo("tunnel off; `soma tunnel run` stops cloudflared within a second.")


@tunnel_app.command(help=f"Show the tunnel as wanted and as the supervisor last reported it, with the origin cloudflared is pointed at. Reads {DB_VARS}, {env_names('tunnel_origin', 'tunnel_origin_host', 'tunnel_origin_port')}.")
def status(
    as_json: bool = typer.Option(False, "--json", help="Print it as one JSON object, as GET /v1/tunnel gives it."),
) -> None:
    from soma.tunnel import state

    async def work(engine: Any) -> dict[str, Any]:
        async with engine.connect() as conn:
            return await state.read(conn)

    row = state.shown(on_database(work), _settings())
    if as_json:
        typer.echo(json.dumps({**row, "reported_at": row["reported_at"].isoformat() if row["reported_at"] else None}))
        return
    typer.echo(f"wanted: {'on' if row['enabled'] else 'off'} ({row['mode']})")
    typer.echo(f"state: {row['state']}")
    typer.echo(f"public URL: {row['public_url'] or '-'}")
    typer.echo(f"origin: {row['origin'] or '-'}")
    typer.echo(f"last error: {row['last_error'] or '-'}")
    reported = f"{row['reported_at']:%Y-%m-%d %H:%M:%S %Z}" if row["reported_at"] else "never (is `soma tunnel run` running?)"
    typer.echo(f"reported: {reported}")


@tunnel_app.command(help=f"Run the supervisor: cloudflared while the tunnel is on, one leader among replicas. Reads {DB_VARS}, {TUNNEL_VARS}, {KEY_VARS}, {GATEWAY_VARS}.")
def run() -> None:
    from soma.tunnel import supervisor

    serve(supervisor.serve)
