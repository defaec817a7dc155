"""/mcp, Soma as an MCP server: the credential it takes, its tools' arguments, and the wait for the agent's answer."""

from __future__ import annotations

from soma.errors.auth import Unauthenticated
from soma.errors.base import SomaError
from soma.errors.conversations import SessionNotFound


class McpNeedsKey(Unauthenticated):
    """/mcp takes an API key, not a login: send `Authorization: Bearer <key>` with a key that has the chat scope (`soma keys create --name NAME --scope chat`)."""


class McpArgumentInvalid(SomaError):
    """Fix the tool's arguments and call it again; tools/list gives each tool's input schema."""

    status_code = 422
    code = "mcp_argument_invalid"


class McpChatNotFound(SessionNotFound):
    """This key has no chat with that id: `ask` continues only the chats its own key started. Leave out session_id to start a new chat, or pass the session_id an earlier `ask` returned."""


class McpAnswerTimedOut(SomaError):
    """The agent is still at it, and its answer will be stored in the chat (GET /v1/sessions/{id}/messages, or Soma's web UI). Ask again later in that chat, or raise SOMA_MCP_ASK_TIMEOUT_SECONDS."""

    status_code = 504
    code = "mcp_answer_timed_out"
