"""An MCP tool's result as the text the SLM reads: its content blocks rendered, secrets redacted, cut at the output cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import mcp_types

from soma.tools.registry import ToolResult


def render(result: mcp_types.CallToolResult) -> str:
    """The content as text: text blocks as they are, other blocks named; structured content when there is no text."""
    parts = [_block(block) for block in result.content]
    if not any(isinstance(block, mcp_types.TextContent) for block in result.content) and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(part for part in parts if part)


def _block(block: Any) -> str:
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, (mcp_types.ImageContent, mcp_types.AudioContent)):
        kind = "image" if isinstance(block, mcp_types.ImageContent) else "audio"
        return f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes, not shown]"
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return resource.text
        return f"[resource {resource.uri}, not shown]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[resource {block.uri}]"
    return ""


def cap(text: str, limit: int) -> str:
    """text cut to at most `limit` bytes of UTF-8 (at a character boundary), with a note the SLM reads."""
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[:limit].decode(errors="ignore")
    return f"{kept}\n\n[Soma cut this result: it had {len(data)} bytes, only the first {limit} are shown.]"


def of(result: mcp_types.CallToolResult, limit: int, redact: Callable[[str], str]) -> ToolResult:
    """The ToolResult of a call the server answered: ok unless it reported an error (`tool_error`)."""
    text = cap(redact(render(result)), limit)
    if result.is_error:
        return ToolResult(False, text or "The tool reported an error without saying which.", "tool_error")
    return ToolResult(True, text)
