"""/v1/meta: the limits and names the web UI uses, exactly as the server's own rules state them."""

from __future__ import annotations

from typing import Any, Literal

import pydantic
import pytest

from soma.auth import passwords, principal
from soma.audit import actions
from soma.gateway import admin_api, meta_api
from soma.knowledge import parsers
from soma.memory import store as memory_store
from soma.settings import store as settings_store
from tests.conftest import client_of

PASSWORD = "correct horse battery"
# The JSON Schema keywords /v1/meta describes, and its names for them.
SCHEMA_BOUNDS = {"minimum": "min", "maximum": "max", "maxLength": "max_length", "enum": "choices"}
SCHEMA_OTHER = {"type", "title", "default", "description", "anyOf"}


def _setting_bounds() -> dict[str, dict[str, Any]]:
    """Each agent setting's bounds, read from the model's JSON Schema (another path than meta_api.py's)."""
    found = {}
    for name, prop in settings_store.AgentSettings.model_json_schema()["properties"].items():
        parts = [prop, *prop.get("anyOf", [])]
        unknown = {key for part in parts for key in part} - SCHEMA_OTHER - set(SCHEMA_BOUNDS)
        assert not unknown, f"setting {name} has constraints /v1/meta does not describe: {unknown}"
        found[name] = {SCHEMA_BOUNDS[key]: value for part in parts for key, value in part.items() if key in SCHEMA_BOUNDS}
    return found


EXPECTED = {
    "memories": {"max_chars": memory_store.MAX_CHARS},
    "passwords": {"min_length": passwords.MIN_LENGTH},
    "users": {"roles": list(principal.ROLES), "default_role": admin_api.NewUser.model_fields["role"].default},
    "api_keys": {
        "scopes": [{"name": scope, "help": meta_api.SCOPE_HELP[scope]} for scope in principal.SCOPES],
        "default_scopes": [principal.CHAT],
    },
    "knowledge": {"file_types": {kind: list(suffixes) for kind, suffixes in parsers.EXTENSIONS.items()}},
    "settings": _setting_bounds(),
    "audit": {"actions": list(actions.ACTIONS)},
}


async def test_meta_states_the_limits_and_names_the_server_validates_with(api) -> None:
    response = await api.get("/v1/meta")

    assert response.status_code == 200
    assert response.json() == EXPECTED


async def test_any_logged_in_user_reads_meta(api, gateway) -> None:
    created = await api.post("/v1/users", json={"username": "ann", "password": PASSWORD})
    assert created.status_code == 201, created.text
    async with client_of(gateway) as member:
        assert (await member.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})).status_code == 200
        response = await member.get("/v1/meta")

    assert (response.status_code, response.json()) == (200, EXPECTED)


def test_every_advertised_setting_bound_is_where_validation_starts_refusing() -> None:
    settings = EXPECTED["settings"]
    checked = 0
    for name, bounds in settings.items():
        inside_outside = []
        if "min" in bounds:
            inside_outside.append((bounds["min"], bounds["min"] - 1))
        if "max" in bounds:
            inside_outside.append((bounds["max"], bounds["max"] + 1))
        if "max_length" in bounds:
            inside_outside.append(("x" * bounds["max_length"], "x" * (bounds["max_length"] + 1)))
        if "choices" in bounds:
            inside_outside += [(choice, choice.upper()) for choice in bounds["choices"]]
        for inside, outside in inside_outside:
            settings_store.AgentSettings.model_validate({name: inside})
            with pytest.raises(pydantic.ValidationError):
                settings_store.AgentSettings.model_validate({name: outside})
            checked += 1
    assert checked == sum(len(v) if isinstance(v, list) else 1 for b in settings.values() for v in b.values()) > 0


def test_a_setting_with_a_fixed_set_of_values_lists_them_as_its_choices() -> None:
    class Shape(pydantic.BaseModel):
        kind: Literal["native", "json", "off"] = "native"
        steps: int = pydantic.Field(10, ge=1, le=50)

    assert meta_api.bounds(Shape.model_fields["kind"]) == {"choices": ["native", "json", "off"]}
    assert meta_api.bounds(Shape.model_fields["steps"]) == {"min": 1, "max": 50}
