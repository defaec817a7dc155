"""/v1/meta: the limits and names the web UI shows, read from the rules the server validates with."""

from __future__ import annotations

import typing
from typing import Any, Literal

from fastapi import APIRouter
from pydantic.fields import FieldInfo

from soma.audit import actions as audit_actions
from soma.auth import passwords, principal
from soma.gateway import admin_api
from soma.knowledge import parsers
from soma.memory import store as memory_store
from soma.settings import store as settings_store

router = APIRouter(prefix="/v1/meta", tags=["meta"])

# What each API key scope allows, as the key form explains it; authn.py and access.py enforce it.
SCOPE_HELP = {
    principal.CHAT: "own chats; read memory, knowledge and settings",
    principal.ADMIN: "everything, users and keys included",
    principal.METRICS: "/metrics only",
}
DEFAULT_KEY_SCOPES = [principal.CHAT]  # what the key form starts with: the least a chat integration needs
# The constraints a setting may have (annotated_types' attribute names), and what /v1/meta calls them.
_BOUNDS = (("ge", "min"), ("le", "max"), ("max_length", "max_length"))


@router.get("")
async def get_meta() -> dict[str, Any]:
    """The server's limits and names, for forms to check and explain before they send anything."""
    return {
        "memories": {"max_chars": memory_store.MAX_CHARS},
        "passwords": {"min_length": passwords.MIN_LENGTH},
        "users": {"roles": list(principal.ROLES), "default_role": admin_api.NewUser.model_fields["role"].default},
        "api_keys": {
            "scopes": [{"name": scope, "help": SCOPE_HELP[scope]} for scope in principal.SCOPES],
            "default_scopes": DEFAULT_KEY_SCOPES,
        },
        "knowledge": {"file_types": {kind: list(suffixes) for kind, suffixes in parsers.EXTENSIONS.items()}},
        "settings": {name: bounds(field) for name, field in settings_store.AgentSettings.model_fields.items()},
        "audit": {"actions": list(audit_actions.ACTIONS)},
    }


def bounds(field: FieldInfo) -> dict[str, Any]:
    """A field's `min`, `max` and `max_length`, as its constraints say, and `choices` for a Literal; empty when it has none."""
    found: dict[str, Any] = {}
    if typing.get_origin(field.annotation) is Literal:
        found["choices"] = list(typing.get_args(field.annotation))
    for rule in field.metadata:
        named = {key: getattr(rule, attr) for attr, key in _BOUNDS if hasattr(rule, attr)}
        if not named:  # say so, rather than leave a rule unmentioned: add its kind to _BOUNDS
            raise TypeError(f"/v1/meta cannot describe the constraint {rule!r}")
        found.update(named)
    return found
