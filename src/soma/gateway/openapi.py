"""The OpenAPI document as the gateway really answers: the one error shape, every status, and links between operations.

FastAPI documents what a route declares. The statuses that the middleware and validation give
(401, 403, 413, 422, 503, and 404 for an id in the path) are added here from the same predicates
those layers use; a route documents the errors it raises itself with `responses=raises(...)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from soma import errors
from soma.gateway import authn, lockdown_gate, restore_gate

ERROR_REF = "#/components/schemas/Error"
METHODS = ("get", "put", "post", "delete", "patch")
# FastAPI's own 422 shape, which gateway/error_shape.py never sends: replaced by Error.
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

# What a created object's id is called in its response, and the operations that take it:
# a reader, and the stateful phase of a fuzzer, follow these links from a POST to its object.
LINKS: dict[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]] = {
    ("post", "/v1/sessions"): ("session_id", (
        ("get", "/v1/sessions/{session_id}"),
        ("get", "/v1/sessions/{session_id}/messages"),
        ("post", "/v1/sessions/{session_id}/messages"),
        ("patch", "/v1/sessions/{session_id}"),
        ("get", "/v1/sessions/{session_id}/export"),
        ("post", "/v1/sessions/{session_id}/stop"),
        ("post", "/v1/sessions/{session_id}/regenerate"),
        ("get", "/v1/sessions/{session_id}/files"),
        ("delete", "/v1/sessions/{session_id}"),
    )),
    ("post", "/v1/memories"): ("memory_id", (
        ("get", "/v1/memories/{memory_id}"),
        ("patch", "/v1/memories/{memory_id}"),
        ("delete", "/v1/memories/{memory_id}"),
    )),
    ("post", "/v1/knowledge"): ("document_id", (
        ("get", "/v1/knowledge/{document_id}"),
        ("get", "/v1/knowledge/{document_id}/content"),
        ("delete", "/v1/knowledge/{document_id}"),
    )),
    ("post", "/v1/tasks"): ("task_id", (
        ("get", "/v1/tasks/{task_id}"),
        ("patch", "/v1/tasks/{task_id}"),
        ("post", "/v1/tasks/{task_id}/run"),
        ("get", "/v1/tasks/{task_id}/runs"),
        ("post", "/v1/tasks/{task_id}/read"),
        ("delete", "/v1/tasks/{task_id}"),
    )),
    ("post", "/v1/users"): ("user_id", (("patch", "/v1/users/{user_id}"),)),
    ("post", "/v1/keys"): ("key_id", (("delete", "/v1/keys/{key_id}"),)),
    ("post", "/v1/restores"): ("restore_id", (
        ("get", "/v1/restores/{restore_id}"),
        ("post", "/v1/restores/{restore_id}/apply"),
        ("delete", "/v1/restores/{restore_id}"),
    )),
}  # fmt: skip


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: e.g. not_found, invalid_request, lockdown.")
    message: str = Field(description="For people: what failed, quoting the offending value, and what to do.")


class Error(BaseModel):
    """The one shape of every error the API answers (gateway/error_shape.py)."""

    error: ErrorDetail


def raises(*kinds: type[errors.SomaError]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: the errors it raises itself, by status, each described by its docstring."""
    found: dict[int | str, dict[str, Any]] = {}
    for kind in kinds:
        entry = found.setdefault(kind.status_code, {"model": Error, "description": ""})
        entry["description"] = f"{entry['description']} `{kind.code}`: {_doc(kind)}".strip()
    return found


def file_upload(field: str, description: str, content_types: Iterable[str]) -> dict[str, Any]:
    """A streaming upload route's `openapi_extra`: the multipart body that uploads.receive reads by hand."""
    schema = {"type": "object", "required": [field], "properties": {field: {"type": "string", "format": "binary", "description": description}}}
    multipart = {"schema": schema, "encoding": {field: {"contentType": ", ".join(content_types)}}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": multipart}}}


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json; it is built once, on first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the shared error responses and the links to FastAPI's document (changed in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    error_schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs"))
    schemas["Error"] = error_schema
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method in METHODS:
                _add_errors(method, path, operation)
    _add_links(document)
    return document


def _shared(method: str, path: str, operation: dict[str, Any]) -> dict[int, str]:
    """The statuses the layers around a route can answer for this operation, with why."""
    statuses: dict[int, str] = {}
    has_body = "requestBody" in operation
    if "{" in path:
        statuses[404] = "Nothing exists at this id (the message names what to list)."
    if has_body:
        statuses[413] = "The body is larger than any valid request (limits.BodyLimit), or its text is over its limit."
    if has_body or operation.get("parameters"):
        statuses[422] = "The request is not valid: the message names each field and what is wrong with it."
    if not authn.is_public(path, metrics_open=False):
        statuses[401] = _doc(errors.Unauthenticated)
        statuses[403] = f"{_doc(errors.Forbidden)} Also `csrf`: {_doc(errors.CSRFRejected)}"
    if not lockdown_gate.is_open(path):
        statuses[503] = f"`lockdown`: {_doc(errors.Lockdown)}"
    if restore_gate.guards(method.upper(), path):
        statuses[503] = f"{statuses.get(503, '')} `restore_in_progress` (with Retry-After): {_doc(errors.RestoreInProgress)}".strip()
    return statuses


def _add_errors(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, description in _shared(method, path, operation).items():
        entry = responses.setdefault(str(status), {"description": description})
        entry["content"] = {"application/json": {"schema": {"$ref": ERROR_REF}}}  # FastAPI's 422 included


def _add_links(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for (method, path), (name, targets) in LINKS.items():
        creator = paths[path][method]
        links = {}
        for target_method, target_path in targets:
            operation_id = paths[target_path][target_method]["operationId"]
            links[operation_id] = {"operationId": operation_id, "parameters": {name: "$response.body#/id"}}
        for status, response in creator["responses"].items():
            if status.startswith("2"):
                response["links"] = links


def _doc(kind: type[errors.SomaError]) -> str:
    return " ".join((kind.__doc__ or "").split())
