"""Public access through the Cloudflare tunnel."""

from __future__ import annotations

from soma.errors.base import SomaError


class TunnelRefused(SomaError):
    """The tunnel stays shut: opening it now would put an unprotected Soma on the internet. Fix what is named, then switch it on again (docs/architecture.md, "Public access")."""

    status_code = 409
    code = "tunnel_refused"
