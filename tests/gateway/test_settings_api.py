"""GET/PUT /v1/settings: typed, versioned, all-or-nothing."""

from __future__ import annotations

import psycopg

from soma.settings.store import DEFAULT_SYSTEM_PROMPT

DEFAULTS = {
    "system_prompt": DEFAULT_SYSTEM_PROMPT,
    "slm_model": None,
    "temperature": None,
    "memory_enabled": True,
    "memory_recall_k": 5,
    "memory_threshold": 0.35,
    "knowledge_k": 4,
    "upload_max_bytes": 20 * 1024 * 1024,
    "tools_enabled": True,
    "max_tool_steps": 10,
    "tool_call_format": "native",
    "tool_approval_timeout_seconds": 300,
    "code_execution": "on",
    "sandbox_network": "none",
    "sandbox_timeout_seconds": 60,
    "sandbox_memory_mb": 512,
    "workspace_max_mb": 100,
    "delegation_max_depth": 3,
}


def _stored(database_url: str) -> tuple[dict, int]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT data, version FROM agent_settings").fetchone()


async def test_settings_start_at_their_defaults_and_version_1(api) -> None:
    body = (await api.get("/v1/settings")).json()
    assert body["settings"] == DEFAULTS
    assert body["version"] == 1


async def test_a_partial_put_changes_only_those_keys_and_bumps_the_version(api, database_url) -> None:
    response = await api.put("/v1/settings", json={"system_prompt": "Be terse.", "memory_recall_k": 3})

    assert response.status_code == 200
    body = response.json()
    assert body["settings"] == {**DEFAULTS, "system_prompt": "Be terse.", "memory_recall_k": 3}
    assert body["version"] == 2
    assert (await api.get("/v1/settings")).json() == body
    data, version = _stored(database_url)
    assert (data["system_prompt"], version) == ("Be terse.", 2)


async def test_an_unknown_key_is_422_and_changes_nothing(api, database_url) -> None:
    response = await api.put("/v1/settings", json={"system_prompt": "changed", "colour": "blue"})

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_settings",
        "message": "'colour' is not a setting. The settings were not changed. Send only known keys with valid "
        "values; GET /v1/settings shows them all.",
    }
    assert _stored(database_url) == ({}, 1)


async def test_a_bad_value_is_422_naming_the_key_and_changes_nothing(api, database_url) -> None:
    response = await api.put("/v1/settings", json={"system_prompt": "changed", "temperature": 7})

    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("'temperature': Input should be less than or equal to 2 (got 7).")
    assert _stored(database_url) == ({}, 1)


async def test_the_tool_settings_refuse_values_out_of_their_bounds(api, database_url) -> None:
    response = await api.put("/v1/settings", json={"max_tool_steps": 51, "tool_call_format": "xml", "tool_approval_timeout_seconds": 0})

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(
        "'max_tool_steps': Input should be less than or equal to 50 (got 51); "
        "'tool_call_format': Input should be 'native', 'json' or 'off' (got 'xml'); "
        "'tool_approval_timeout_seconds': Input should be greater than or equal to 1 (got 0)."
    )
    assert _stored(database_url) == ({}, 1)


async def test_the_sandbox_settings_refuse_values_out_of_their_bounds(api, database_url) -> None:
    response = await api.put("/v1/settings", json={"code_execution": "maybe", "sandbox_network": "all", "sandbox_memory_mb": 1, "workspace_max_mb": 0})

    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "'code_execution': Input should be 'on' or 'off' (got 'maybe')" in message
    assert "'sandbox_network': Input should be 'none' or 'egress' (got 'all')" in message
    assert "'sandbox_memory_mb': Input should be greater than or equal to 64 (got 1)" in message
    assert "'workspace_max_mb': Input should be greater than or equal to 1 (got 0)" in message
    assert _stored(database_url) == ({}, 1)


async def test_a_body_that_is_not_an_object_is_422(api) -> None:
    response = await api.put("/v1/settings", json=["system_prompt"])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_null_returns_an_optional_setting_to_its_default(api) -> None:
    await api.put("/v1/settings", json={"slm_model": "big-model", "temperature": 0.2})
    body = (await api.put("/v1/settings", json={"slm_model": None, "temperature": None})).json()
    assert (body["settings"]["slm_model"], body["settings"]["temperature"]) == (None, None)
