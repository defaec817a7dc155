"""The agent's tools: MCP tool servers an admin configures, and the per-tool choices."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class InvalidToolServer(SomaError):
    """No tool server was changed. Fix the named entry (docs/runbooks/add-a-tool-server.md shows each field), then send it again."""

    status_code = 422
    code = "invalid_tool_server"


class ToolServerNotFound(NotFound):
    """No tool server has this name. `GET /v1/tools` (or `soma tools list`) lists them."""

    code = "tool_server_not_found"


class ToolNotFound(NotFound):
    """No tool of that server has this name. `GET /v1/tools` lists each server's tools; a server that never connected has none yet."""

    code = "tool_not_found"


class InvalidToolChoice(SomaError):
    """The tool was not changed. Send `enabled` (true or false) and/or `approval` ("auto" or "ask"), nothing else."""

    status_code = 422
    code = "invalid_tool_choice"
