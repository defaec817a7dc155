"""Chat sessions, messages and turns, and the OpenAI-compatible API's requests."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class SessionNotFound(NotFound):
    """No chat session has this id. List sessions with GET /v1/sessions, or create one with POST /v1/sessions."""


class MessageTooLarge(SomaError):
    """The message is longer than SOMA_MAX_MESSAGE_CHARS allows. Send a shorter message or raise that limit."""

    status_code = 413
    code = "message_too_large"


class MessageNotFound(NotFound):
    """No message of this chat has this id. List the chat's messages with GET /v1/sessions/{id}/messages."""


class MessageNotEditable(SomaError):
    """Only the chat's last user message can be edited. Send a new message instead, or regenerate the last answer with POST /v1/sessions/{id}/regenerate."""

    status_code = 409
    code = "message_not_editable"


class NothingToRegenerate(SomaError):
    """There is no answer to regenerate. Send a message with POST /v1/sessions/{id}/messages first."""

    status_code = 409
    code = "nothing_to_regenerate"


class TurnInProgress(SomaError):
    """Wait until it ends, or stop it with POST /v1/sessions/{id}/stop, then try again."""

    status_code = 409
    code = "turn_in_progress"


class ModelNotFound(NotFound):
    """Soma serves the model `soma` only. List the models with GET /v1/models and send one of their ids as `model`."""

    code = "model_not_found"


class ChatRequestInvalid(SomaError):
    """The chat completion request cannot become a turn. Send `messages` ending with a user message of text (docs/openai-api.md)."""

    status_code = 400
    code = "invalid_request"


class TurnFailed(SomaError):
    """The agent could not answer: its SLM failed (the reason is in front). Check the SLM with `soma slm check`, then send the request again; the chat keeps the question."""

    status_code = 503
    code = "turn_failed"


class TurnRateLimited(TurnFailed):
    """The agent's SLM kept refusing with 429 Too Many Requests. Wait, then send the request again; the chat keeps the question."""

    status_code = 429
    code = "rate_limit_exceeded"


class ApprovalNotWaiting(SomaError):
    """No tool call of this chat waits for approval under this id: it never asked, or its turn ended. Read the chat's `tool.approval` events for the calls that wait."""

    status_code = 409
    code = "approval_not_waiting"


class ApprovalDecided(SomaError):
    """This tool call's approval is decided; the first answer counts. Read the call's `tool.finished` event for what happened."""

    status_code = 409
    code = "approval_decided"
