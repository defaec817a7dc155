"""The tunnel's one row: what an admin asked for (enabled, mode), what the supervisor saw, and the guarded switch; and the origin cloudflared is pointed at.

The API (gateway/tunnel_api.py) and the CLI (cli/tunnel.py) both switch through `switch`, so the checks
and the audit entry are the same whichever door the change came through.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import config, errors
from soma.auth import admin
from soma.db import tables
from soma.emergency import lockdown

MODES = ("token", "quick")
STATES = ("off", "starting", "connected", "failed")
_t = tables.tunnel_state
PUBLIC = (_t.c.enabled, _t.c.mode, _t.c.state, _t.c.public_url, _t.c.last_error, _t.c.reported_at)


def _protected_admin(settings: config.Settings) -> sa.Exists:
    """A live admin who must prove who they are: with a password, or bound to the configured identity provider."""
    u = tables.users
    with_sso = sa.and_(u.c.oidc_issuer == settings.oidc_issuer, u.c.oidc_subject.is_not(None)) if settings.oidc_issuer else sa.false()
    return sa.select(sa.literal(1)).where(u.c.role == "admin", u.c.disabled_at.is_(None), sa.or_(u.c.password_hash != "", with_sso)).exists()


# A setup link anyone holding it could still use to become the first admin.
_OPEN_SETUP_LINK = sa.select(sa.literal(1)).where(
    tables.setup_tokens.c.used_at.is_(None), tables.setup_tokens.c.expires_at > sa.func.now()
).exists()


async def read(conn: AsyncConnection) -> dict[str, Any]:
    """The tunnel as wanted and as last reported: enabled, mode, state, public_url, last_error, reported_at."""
    return dict((await conn.execute(sa.select(*PUBLIC).where(_t.c.id == 1))).one()._mapping)


async def problems(conn: AsyncConnection, settings: config.Settings) -> list[str]:
    """What keeps the tunnel shut, each naming its fix; empty when Soma may be exposed."""
    found = []
    locked = await lockdown.read(conn)
    if locked.active:
        found.append(
            f"Soma is in lockdown ({locked.reason!r}): after the incident is dealt with, lift it with "
            "`soma emergency-stop --lift --reason TEXT` (docs/runbooks/emergency-shutdown.md)."
        )
    if not (await conn.execute(sa.select(_protected_admin(settings)))).scalar_one():
        found.append("No admin account with a password exists: create one with `soma users create NAME --role admin` or the setup link.")
    if (await conn.execute(sa.select(_OPEN_SETUP_LINK))).scalar_one():
        found.append("A setup link is still open: use it to set the admin password, or let it expire.")
    if not settings.public_url:
        found.append("SOMA_PUBLIC_URL is unset: set it to the https origin the tunnel serves, e.g. https://soma.example.org.")
    return found


async def switch(
    conn: AsyncConnection, actor: admin.Actor, settings: config.Settings, enabled: bool, mode: str | None = None
) -> dict[str, Any]:
    """Open (after the guard's checks) or close the tunnel, audited in the caller's transaction; returns the row."""
    if enabled:
        found = await problems(conn, settings)
        if found:
            raise errors.TunnelRefused(" ".join(found))
    changes: dict[str, Any] = {"enabled": enabled, "changed_at": sa.func.now(), "changed_by": actor.name}
    if mode is not None:
        changes["mode"] = mode
    row = (await conn.execute(sa.update(_t).where(_t.c.id == 1).values(changes).returning(*PUBLIC))).one()._mapping
    await actor.record(conn, "tunnel.enabled" if enabled else "tunnel.disabled", "tunnel", {"mode": row["mode"]})
    return dict(row)


async def report(conn: AsyncConnection, state: str, public_url: str | None = None, last_error: str | None = None) -> None:
    """The supervisor's view of cloudflared, stamped with the database's time."""
    values = {"state": state, "public_url": public_url, "last_error": last_error, "reported_at": sa.func.now()}
    await conn.execute(sa.update(_t).where(_t.c.id == 1).values(values))


def origin(settings: config.Settings) -> str | None:
    """Where cloudflared is pointed, the gateways' tunnel door: SOMA_TUNNEL_ORIGIN, else the door on this machine; None with neither.

    The supervisor points cloudflared here, and GET /v1/tunnel and `soma tunnel status` show it,
    from the same settings (in Kubernetes, the ConfigMap every process reads).
    """
    if settings.tunnel_origin:
        return settings.tunnel_origin
    if not settings.tunnel_origin_port:
        return None
    host = settings.tunnel_origin_host
    if host in ("0.0.0.0", "::", ""):  # the door listens everywhere; this machine reaches it on loopback
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{settings.tunnel_origin_port}"


def shown(row: dict[str, Any], settings: config.Settings) -> dict[str, Any]:
    """The row as the API and the CLI show it: with the origin cloudflared is pointed at."""
    return {**row, "origin": origin(settings)}
