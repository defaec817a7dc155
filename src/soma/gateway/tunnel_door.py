"""The tunnel's own door: which requests came through cloudflared, and which visitor each one is from.

Each gateway serves a second listener, SOMA_TUNNEL_ORIGIN_HOST:SOMA_TUNNEL_ORIGIN_PORT, that only
cloudflared is pointed at (gateway/server.py). What arrives there is public: the browser spoke
HTTPS to Cloudflare, and the visitor is the address Cloudflare writes in CF-Connecting-IP (it
overwrites whatever a visitor sends). The listener a request arrived on is in the ASGI scope's
`server`, the address of the socket that accepted it, which no header can change; everywhere else
CF-Connecting-IP means nothing. docs/security.md, "The public door", has the threat model.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.datastructures import Headers
from starlette.types import Scope

log = logging.getLogger(__name__)

VISITOR_HEADER = "cf-connecting-ip"


def through(scope: Scope) -> bool:
    """True when the request arrived on this gateway's tunnel door."""
    app = scope.get("app")
    port = app.state.settings.tunnel_origin_port if app is not None else 0
    server = scope.get("server")
    return bool(port) and server is not None and server[1] == port


def visitor(headers: Headers) -> str | None:
    """The visitor's address from CF-Connecting-IP, or None when there is not exactly one valid address."""
    values = headers.getlist(VISITOR_HEADER)
    try:
        found = [str(ipaddress.ip_address(value.strip())) for value in values]
    except ValueError:
        found = []
    if len(found) != 1:
        log.warning("a request on the tunnel's door without one usable CF-Connecting-IP (%d given): counted as its peer", len(values))
        return None
    return found[0]
