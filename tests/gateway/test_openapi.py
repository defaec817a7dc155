"""The OpenAPI document tells the truth: the one error shape under every error status, the statuses each layer adds, and links.

tests/acceptance/test_api_fuzz.py checks every operation against the document; these pin the rules it relies on.
"""

from __future__ import annotations


async def test_every_error_status_of_every_operation_is_the_one_error_shape(api) -> None:
    document = (await api.get("/openapi.json")).json()

    shapes = {
        str(response.get("content"))
        for path, operations in document["paths"].items()
        if path != "/ready"  # its 503 is the readiness report, not an error
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    }
    assert shapes == {str({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]


async def test_the_shared_statuses_follow_the_layers_a_request_passes(api) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]

    def statuses(path: str, method: str) -> list[str]:
        return sorted(paths[path][method]["responses"])

    assert statuses("/health", "get") == ["200"]
    assert statuses("/v1/auth/login", "post") == ["200", "401", "403", "413", "422", "429", "503"]  # 403: local login off
    assert statuses("/v1/sessions", "get") == ["200", "401", "403", "422", "503"]  # 422: an overlong ?query
    assert statuses("/v1/memories/{memory_id}", "patch") == ["200", "401", "403", "404", "413", "422", "503"]
    assert statuses("/v1/users", "post") == ["201", "401", "403", "409", "413", "422", "503"]
    assert statuses("/v1/knowledge", "post") == ["200", "202", "400", "401", "403", "413", "415", "422", "503"]


async def test_a_created_object_links_to_the_operations_that_take_its_id(api) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]

    links = paths["/v1/keys"]["post"]["responses"]["201"]["links"]
    assert links == {
        "revoke_key_v1_keys__key_id__delete": {
            "operationId": "revoke_key_v1_keys__key_id__delete",
            "parameters": {"key_id": "$response.body#/id"},
        }
    }
