"""Input the database cannot hold is a 422 in the one error shape, never a 500: ids beyond their column, NUL in text.

The ids past bigint, NUL text and the key expiry were 500s found by tests/acceptance/test_api_fuzz.py.
"""

from __future__ import annotations

import pytest

from soma.gateway import params

TOO_BIG = params.BIGINT_MAX + 1


def _invalid(problem: str) -> dict:
    return {"error": {"code": "invalid_request", "message": f"The request is not valid: {problem}. Fix the request and send it again."}}


@pytest.mark.parametrize(
    ("method", "path", "where"),
    [
        ("GET", f"/v1/memories/{TOO_BIG}", "path.memory_id"),
        ("DELETE", f"/v1/memories/{TOO_BIG}", "path.memory_id"),
        ("PATCH", f"/v1/users/{TOO_BIG}", "path.user_id"),
        ("DELETE", f"/v1/keys/{TOO_BIG}", "path.key_id"),
        ("GET", f"/v1/memories?before={TOO_BIG}", "query.before"),
    ],
)
async def test_an_id_beyond_bigint_is_refused_as_invalid_not_a_server_error(api, method, path, where) -> None:
    body = {"disabled": False} if method == "PATCH" else None
    response = await api.request(method, path, json=body)

    assert response.status_code == 422
    assert response.json() == _invalid(f"{where}: Input should be less than or equal to {params.BIGINT_MAX}")


async def test_an_id_below_one_is_refused_as_invalid(api) -> None:
    response = await api.get("/v1/memories/0")

    assert response.status_code == 422
    assert response.json() == _invalid("path.memory_id: Input should be greater than or equal to 1")


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/sessions", {"title": "a\x00b"}, "title"),
        ("/v1/memories", {"content": "a\x00b"}, "content"),
        ("/v1/users", {"username": "a\x00b", "password": "long enough password"}, "username"),
        ("/v1/keys", {"name": "a\x00b", "scopes": ["chat"]}, "name"),
    ],
)
async def test_text_with_a_nul_character_is_refused_as_invalid_not_a_server_error(api, path, body, where) -> None:
    response = await api.post(path, json=body)

    assert response.status_code == 422
    assert response.json() == _invalid(f"{where}: Value error, text must not contain NUL (\\u0000) characters")


async def test_a_key_expiring_past_a_hundred_years_is_refused_as_invalid(api) -> None:
    response = await api.post("/v1/keys", json={"name": "forever", "scopes": ["chat"], "expires_days": 1e308})

    assert response.status_code == 422
    assert response.json() == _invalid("expires_days: Input should be less than or equal to 36525")


async def test_a_body_that_is_not_utf8_is_invalid_json_like_any_other(api) -> None:
    response = await api.post("/v1/sessions", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json() == _invalid("the body is not valid JSON")


async def test_a_setting_with_a_nul_character_is_an_invalid_setting_and_nothing_changes(api) -> None:
    before = (await api.get("/v1/settings")).json()

    response = await api.put("/v1/settings", json={"system_prompt": "a\x00b"})

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "invalid_settings",
            "message": "'system_prompt': Value error, text must not contain NUL (\\u0000) characters (got 'a\\x00b'). "
            "The settings were not changed. Send only known keys with valid values; GET /v1/settings shows them all.",
        }
    }
    assert (await api.get("/v1/settings")).json() == before


@pytest.mark.parametrize("name", ["action", "actor"])
async def test_an_audit_filter_with_a_nul_character_is_refused_as_invalid(api, name) -> None:
    response = await api.get("/v1/audit", params={name: "a\x00b"})

    assert response.status_code == 422
    assert response.json() == _invalid(f"query.{name}: Value error, text must not contain NUL (\\u0000) characters")
