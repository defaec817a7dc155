"""Route-level checks on top of authn.py: admin-only routes, and which chats a caller may see."""

from __future__ import annotations

from fastapi import Request

from soma import errors
from soma.auth.principal import Principal


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
    return request.client.host if request.client else None
