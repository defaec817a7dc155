"""OpenAI's response shapes: the model list, a completion, its streamed chunks, usage, errors, and Soma's extra field."""

from __future__ import annotations

from typing import Any

MODEL = "soma"  # the agent, as a model id
OWNER = "soma"
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")

# An error's OpenAI `type` by HTTP status; any other status is a server_error.
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
CODES = {"unauthenticated": "invalid_api_key"}  # Soma's codes that OpenAI clients know by another name


def models(created: int) -> dict[str, Any]:
    """GET /v1/models: the agent."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": created, "owned_by": OWNER}]}


def completion_id(message_id: int) -> str:
    """The completion's id, from the question it answers: known before the answer starts, the same in every chunk."""
    return f"chatcmpl-soma-{message_id}"


def completion(id_: str, created: int, answer: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A whole `chat.completion`."""
    message = {"role": "assistant", "content": answer["content"]}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
    return {
        "id": id_, "object": "chat.completion", "created": created, "model": MODEL,
        "choices": [choice], "usage": usage(answer["meta"]), "soma": extra,
    }  # fmt: skip


def chunk(id_: str, created: int, delta: dict[str, Any], finish_reason: str | None = None, **more: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` of a stream."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
    return {"id": id_, "object": "chat.completion.chunk", "created": created, "model": MODEL, "choices": [choice], **more}


def last_chunk(id_: str, created: int, answer: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The chunk that ends a stream: finish_reason, usage when known, and Soma's extra field."""
    return chunk(id_, created, {}, "stop", usage=usage(answer["meta"]), soma=extra)


def usage(meta: dict[str, Any]) -> dict[str, int] | None:
    """The token counts the SLM reported for the answer (its meta's `usage`), or None when it reported none."""
    found = meta.get("usage")
    if not isinstance(found, dict) or not all(isinstance(found.get(field), int) for field in USAGE_FIELDS[:2]):
        return None
    counts = {field: found[field] for field in USAGE_FIELDS[:2]}
    return {**counts, "total_tokens": found.get("total_tokens") or sum(counts.values())}


def extra(session_id: str, answer: dict[str, Any], memories: list[dict[str, Any]]) -> dict[str, Any]:
    """What OpenAI's shapes have no field for, under `soma`: the chat, the answer's id, its citations and the memories recalled."""
    return {
        "session_id": session_id,
        "message_id": answer["id"],
        "citations": answer["citations"],
        "memories": [{"id": m["id"], "content": m["content"]} for m in memories],
        "stopped": answer["stopped"],
    }


def error(status: int, code: str, message: str) -> dict[str, Any]:
    """OpenAI's error body for a Soma error."""
    return {"error": {"message": message, "type": TYPES.get(status, "server_error"), "param": None, "code": CODES.get(code, code)}}
