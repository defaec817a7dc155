"""Turning an Agent Zero chat.json into the chat's messages as (role, text), keeping topic summaries when messages are gone.

Agent Zero's history holds every step of its tool loop: the agent's tool calls (JSON with
`tool_name` and `tool_args`) and their results (`tool_name`, `tool_result`, stored as non-AI
messages). Soma keeps what the people in the chat said: the user's messages and the agent's
answers (its `response` tool calls, several after one question joined into one answer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any


TOOL = "tool"
USER_KEYS = ("user_message", "user_intervention")  # fw.user_message.md and fw.intervention.md


class ChatUnreadable(ValueError):
    """A chat.json that is not what Agent Zero writes; its message is the reason shown in the preview."""


@dataclass(frozen=True)
class Chat:
    """One Agent Zero chat: its id, name, creation time and the main agent's messages."""

    id: str
    name: str
    created_at: str | None
    messages: list[tuple[str, str]]  # (role, text); role is "user", "assistant" or "summary"
    log_entries: int  # Agent Zero's tool and progress log, which Soma does not import
    tool_steps: int = 0  # tool calls and tool results between a question and its answer, not imported

    def first_exchange(self) -> dict[str, str | None]:
        """The first user message and the first answer after it."""
        user = next((i for i, (role, _) in enumerate(self.messages) if role == "user"), None)
        if user is None:
            return {"user": None, "assistant": None}
        answer = next((text for role, text in self.messages[user + 1:] if role == "assistant"), None)
        return {"user": self.messages[user][1], "assistant": answer}


def parse(data: bytes, fallback_id: str) -> Chat:
    """The chat in a chat.json; ChatUnreadable with the reason when it is malformed."""
    try:
        chat = json.loads(data)
    except ValueError as exc:
        raise ChatUnreadable(f"not JSON ({exc})") from None
    if not isinstance(chat, dict) or not isinstance(chat.get("agents"), list):
        raise ChatUnreadable("no agents list")
    main = next((a for a in chat["agents"] if isinstance(a, dict) and a.get("number", 0) == 0), None)
    if main is None:
        raise ChatUnreadable("no agent number 0 (the one the user talks to)")
    log = chat.get("log")
    logs = log.get("logs") if isinstance(log, dict) else None
    messages = _history(main.get("history"))
    return Chat(
        id=str(chat.get("id") or fallback_id),
        name=str(chat.get("name") or f"Agent Zero chat {fallback_id}"),
        created_at=chat["created_at"] if isinstance(chat.get("created_at"), str) else None,
        messages=_joined(m for m in messages if m[0] != TOOL),
        log_entries=len(logs) if isinstance(logs, list) else 0,
        tool_steps=sum(1 for m in messages if m[0] == TOOL),
    )


def _joined(messages: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The messages with the agent's answers in a row (several `response` calls after one question) as one."""
    out: list[tuple[str, str]] = []
    for role, text in messages:
        if role == "assistant" and out and out[-1][0] == "assistant":
            out[-1] = ("assistant", f"{out[-1][1]}\n\n{text}")
        else:
            out.append((role, text))
    return out


def _history(raw: Any) -> list[tuple[str, str]]:
    """The messages of a History, oldest first: bulks, then topics, then the current topic."""
    if raw in (None, ""):
        return []
    try:
        history = json.loads(raw) if isinstance(raw, str) else raw  # Agent Zero stores it as a JSON string
    except ValueError as exc:
        raise ChatUnreadable(f"history is not JSON ({exc})") from None
    if not isinstance(history, dict):
        raise ChatUnreadable("history is not an object")
    out: list[tuple[str, str]] = []
    for bulk in _list(history, "bulks"):
        out += _bulk(bulk)
    for topic in _list(history, "topics"):
        out += _topic(topic)
    if history.get("current") is not None:
        out += _topic(history["current"])
    return out


def _bulk(bulk: Any) -> list[tuple[str, str]]:
    records = [m for record in _list(bulk, "records") for m in _topic(record)]
    return records or _summary(bulk)


def _topic(topic: Any) -> list[tuple[str, str]]:
    if not isinstance(topic, dict):
        raise ChatUnreadable("a topic is not an object")
    if topic.get("_cls") == "Message":  # bulks may hold messages directly
        return [_message(topic)]
    messages = [_message(m) for m in _list(topic, "messages")]
    return messages or _summary(topic)


def _summary(item: dict[str, Any]) -> list[tuple[str, str]]:
    summary = item.get("summary")
    return [("summary", summary)] if isinstance(summary, str) and summary.strip() else []


def _message(message: Any) -> tuple[str, str]:
    """(role, text); role TOOL for a step of the agent's tool loop."""
    if not isinstance(message, dict) or "content" not in message:
        raise ChatUnreadable("a message has no content")
    content = message["content"]
    if isinstance(content, dict) and _is_tool_step(content, bool(message.get("ai"))):
        return (TOOL, "")
    return ("assistant" if message.get("ai") else "user", render(content))


def _is_tool_step(content: dict[str, Any], ai: bool) -> bool:
    """A tool call other than `response`, a tool's result, or a warning Agent Zero gave its own agent."""
    if ai:
        return isinstance(content.get("tool_name"), str) and content["tool_name"] != "response"
    return not any(isinstance(content.get(key), str) for key in USER_KEYS)


def _list(item: Any, key: str) -> list[Any]:
    value = item.get(key) if isinstance(item, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChatUnreadable(f"{key} is not a list")
    return value


def render(content: Any) -> str:
    """A message's content as text: Agent Zero's structured messages keep their words, the rest becomes JSON."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        for key in USER_KEYS:
            if isinstance(content.get(key), str):
                return content[key]
        args = content.get("tool_args")
        if content.get("tool_name") == "response" and isinstance(args, dict) and isinstance(args.get("text"), str):
            return args["text"]
    return json.dumps(content, ensure_ascii=False, sort_keys=True)
