"""A whole chat as a file: Markdown to read, JSON to keep, with roles, times, citations, tool steps and earlier versions."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import messages, sessions

MEDIA_TYPES = {"markdown": "text/markdown; charset=utf-8", "json": "application/json"}
_EXTENSIONS = {"markdown": "md", "json": "json"}
_ROLES = {"user": "You", "assistant": "Assistant"}
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")  # a file name keeps letters and digits; the rest becomes "-"
STEP_RESULT_CHARS = 500  # of a tool's result in the Markdown; the JSON export keeps it whole (an answer's meta.steps)


async def as_json(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> dict[str, Any]:
    """The chat and every message, oldest first, as the API shows them."""
    session = await sessions.get(conn, session_id, owner=owner)
    return {
        "session": session,
        "messages": await messages.list_for_session(conn, session_id, owner),
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }


def markdown(chat: dict[str, Any]) -> str:
    """An export from as_json as Markdown: the title, then each message under its role and time, with its sources."""
    session = chat["session"]
    lines = [f"# {session['title']}", "", f"Started {_when(session['created_at'])}, exported {_when(chat['exported_at'])}."]
    for message in chat["messages"]:
        note = " (stopped)" if message["stopped"] else ""
        lines += ["", f"## {_ROLES[message['role']]} · {_when(message['created_at'])}{note}"]
        lines += _steps(message["meta"].get("steps", []))
        lines += ["", message["content"]]
        lines += _sources(message["citations"])
        if message["versions"]:
            lines += ["", f"_{len(message['versions'])} earlier version(s) in the JSON export._"]
    return "\n".join(lines) + "\n"


def filename(chat: dict[str, Any], format: str) -> str:
    """`soma-<title as letters, digits and dashes>.<md|json>`, safe in a Content-Disposition header on any system."""
    slug = _UNSAFE.sub("-", chat["session"]["title"]).strip("-").lower()[:60].strip("-")
    return f"soma-{slug or chat['session']['id']}.{_EXTENSIONS[format]}"


def _steps(steps: list[dict[str, Any]]) -> list[str]:
    """The tool calls that led to an answer, each with its arguments and what it gave, before the answer."""
    if not steps:
        return []
    lines = ["", "Steps:"]
    for step in steps:
        tool = step["name"] if step["server"] in (None, "soma") else f"{step['server']}/{step['name']}"
        outcome = "" if step["ok"] else f"failed ({step['error']}): "
        result = step["result"] if len(step["result"]) <= STEP_RESULT_CHARS else step["result"][:STEP_RESULT_CHARS] + " …"
        took = f" ({step['duration_ms']:.0f} ms)" if step["duration_ms"] is not None else ""
        arguments = json.dumps(step["arguments"], ensure_ascii=False)
        lines.append(f"- `{tool}` {arguments}{took} → {outcome}{' '.join(result.split())}")
    return lines


def _sources(citations: list[dict[str, Any]]) -> list[str]:
    if not citations:
        return []
    return ["", "Sources:", *(f"- [{c['n']}] {c['filename']}, part {c['ordinal'] + 1}" for c in citations)]


def _when(iso: str) -> str:
    return datetime.datetime.fromisoformat(iso).astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
