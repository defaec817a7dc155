"""A whole chat as a file: Markdown to read, JSON to keep, with roles, times, attached files, citations, tool steps and earlier versions."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import answer_steps, messages, sessions

MEDIA_TYPES = {"markdown": "text/markdown; charset=utf-8", "json": "application/json"}
_EXTENSIONS = {"markdown": "md", "json": "json"}
_ROLES = {"user": "You", "assistant": "Assistant"}
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")  # a file name keeps letters and digits; the rest becomes "-"
_BACKTICKS = re.compile(r"`+")


async def as_json(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> dict[str, Any]:
    """The chat and every message, oldest first, as the API shows them; each answer and each of its versions with its `steps`."""
    session = await sessions.get(conn, session_id, owner=owner)
    chat_messages = await messages.list_for_session(conn, session_id, owner)
    steps = await answer_steps.by_answer(conn, session_id)
    for message in chat_messages:
        if message["role"] == "assistant":
            _attach_steps(message, steps.get(message["reply_to"], []))
    return {"session": session, "messages": chat_messages, "exported_at": datetime.datetime.now(datetime.UTC).isoformat()}


def markdown(chat: dict[str, Any]) -> str:
    """An export from as_json as Markdown: the title, then each message under its role and time, with its tool steps and sources."""
    session = chat["session"]
    lines = [f"# {session['title']}", "", f"Started {_when(session['created_at'])}, exported {_when(chat['exported_at'])}."]
    for message in chat["messages"]:
        note = " (stopped)" if message["stopped"] else ""
        lines += ["", f"## {_ROLES[message['role']]} · {_when(message['created_at'])}{note}"]
        lines += _steps(message.get("steps", []))
        lines += ["", message["content"]]
        lines += _attached(message.get("meta", {}).get("attachments", []))
        lines += _sources(message["citations"])
        if message["versions"]:
            lines += ["", f"_{len(message['versions'])} earlier version(s) in the JSON export._"]
    return "\n".join(lines) + "\n"


def filename(chat: dict[str, Any], format: str) -> str:
    """`soma-<title as letters, digits and dashes>.<md|json>`, safe in a Content-Disposition header on any system."""
    slug = _UNSAFE.sub("-", chat["session"]["title"]).strip("-").lower()[:60].strip("-")
    return f"soma-{slug or chat['session']['id']}.{_EXTENSIONS[format]}"


def _attach_steps(answer: dict[str, Any], runs: list[list[dict[str, Any]]]) -> None:
    """The answer's steps are its last run's, each earlier version's the run before; matched from the newest."""
    versions = [*answer["versions"], answer]
    for n, version in enumerate(reversed(versions), start=1):
        version["steps"] = runs[-n] if n <= len(runs) else []


def _steps(steps: list[dict[str, Any]]) -> list[str]:
    """Each step as a line naming the tool, its server and outcome, then its arguments and result in code blocks."""
    lines: list[str] = []
    for n, step in enumerate(steps, start=1):
        outcome = "not finished" if step["ok"] is None else "ok" if step["ok"] else "failed"
        took = f" · {_duration(step['duration_ms'])}" if isinstance(step["duration_ms"], int | float) else ""
        where = f" ({step['server']})" if step["server"] else ""
        lines += ["", f"**Step {n}: {step['name']}**{where} · {outcome}{took}", "", "Arguments:", *_block(_json(step["arguments"]), "json")]
        if step["error"]:
            lines += ["", "Error:", *_block(str(step["error"]), "text")]
        if step["result"] not in (None, "", step["error"]):
            lines += ["", "Result:", *_block(step["result"] if isinstance(step["result"], str) else _json(step["result"]), "text")]
    return lines


def _json(value: Any) -> str:
    """Arguments as indented JSON; the SLM sends them as a JSON string, which may not parse."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _block(text: str, language: str) -> list[str]:
    """A fenced code block holding `text` exactly, its fence longer than any run of backticks inside."""
    fence = "`" * max([3, *(len(run) + 1 for run in _BACKTICKS.findall(text))])
    return ["", f"{fence}{language}", text, fence]


def _duration(ms: float) -> str:
    return f"{round(ms)} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _attached(files: list[dict[str, Any]]) -> list[str]:
    """The files a message carried, by name and size; they stay in the chat's files, not in the export."""
    if not files:
        return []
    return ["", "Attached:", *(f"- {_code(file['path'])} ({file['size']} bytes)" for file in files)]


def _code(text: str) -> str:
    """Inline code holding text exactly, its backticks longer than any run inside."""
    fence = "`" * max([1, *(len(run) + 1 for run in _BACKTICKS.findall(text))])
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def _sources(citations: list[dict[str, Any]]) -> list[str]:
    if not citations:
        return []
    return ["", "Sources:", *(f"- [{c['n']}] {c['filename']}, part {c['ordinal'] + 1}" for c in citations)]


def _when(iso: str) -> str:
    return datetime.datetime.fromisoformat(iso).astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
