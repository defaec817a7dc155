"""Route-level checks on top of authn.py: admin-only routes, which chats a caller may see, and the address a request comes from."""

from __future__ import annotations

import ipaddress

from fastapi import Request

from soma import config, errors
from soma.auth.principal import Principal
from soma.gateway import tunnel_door


def principal(request: Request) -> Principal:
    """The caller; authn.Authenticate guarantees one on every non-public route."""
    return request.state.principal


def require_admin(request: Request) -> Principal:
    """A FastAPI dependency: 403 unless the caller is an admin (a user, or a key with the admin scope)."""
    caller = principal(request)
    if not caller.is_admin:
        raise errors.Forbidden("Only admins may do this.")
    return caller


def chat_owner_filter(request: Request) -> str | None:
    """Whose chats the caller sees: None (all) for admins, else their own."""
    caller = principal(request)
    return None if caller.is_admin else caller.owner


def client_address(request: Request) -> str | None:
    """Who is calling: Cloudflare's visitor on the tunnel's door; elsewhere the peer, or behind
    SOMA_TRUSTED_PROXIES the nearest untrusted X-Forwarded-For hop.

    X-Forwarded-For is read right to left, because each proxy appends the address it saw: entries
    left of the first untrusted one were written by the client itself and prove nothing.
    """
    peer = request.client.host if request.client else None
    if tunnel_door.through(request.scope):
        return tunnel_door.visitor(request.headers) or peer
    trusted = config.proxy_networks(request.app.state.settings.trusted_proxies)
    if peer is None or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    address = peer
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _is_address(hop) else address  # garbage names no one: keep the last proxy's word
        address = hop
    return address


def _within(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
