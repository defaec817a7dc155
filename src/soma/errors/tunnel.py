"""Public access through the Cloudflare tunnel."""

from __future__ import annotations

from soma.errors.base import SomaError


class TunnelRefused(SomaError):
    """The tunnel stays shut: opening it now would put an unprotected Soma on the internet. Fix what is named, then switch it on again (docs/architecture.md, "Public access")."""

    status_code = 409
    code = "tunnel_refused"


class TunnelDoorUnavailable(SomaError):
    """The gateway cannot serve the tunnel's door, so it does not start: cloudflared would reach nothing, or whatever else holds that port. Set SOMA_TUNNEL_ORIGIN_PORT (and SOMA_TUNNEL_ORIGIN_HOST) to a free address, the same for `soma tunnel run`, or SOMA_TUNNEL_ORIGIN_PORT=0 for a gateway the tunnel does not reach."""

    code = "tunnel_door_unavailable"
