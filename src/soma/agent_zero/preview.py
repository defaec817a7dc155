"""What an Agent Zero backup would bring into Soma and what it would not, as one dict (for `soma backup inspect`)."""

from __future__ import annotations

from typing import Any, BinaryIO

from soma.agent_zero import archive, chats, contents

SHOWN_CHARS = 500  # of each chat's first exchange


def preview(file: BinaryIO) -> dict[str, Any]:
    """The preview of the Agent Zero backup in file; a BackupInvalid subclass when the zip is refused."""
    return describe(contents.read(archive.open_archive(file)))


def describe(found: contents.Contents) -> dict[str, Any]:
    """The preview of what was read: what comes over (counts, chats, settings), what is dropped or skipped and why."""
    meta = found.metadata
    return {
        "format": "agent-zero",
        "agent_zero_version": meta["agent_zero_version"],
        "timestamp": meta.get("timestamp"),
        "backup_name": meta.get("backup_name"),
        "layout": found.layout,
        "counts": {  # in Soma's words, as a Soma backup's manifest counts them (chats are sessions, files documents)
            "sessions": len(found.chats),
            "messages": sum(len(c.messages) for c in found.chats),
            "memories": len(found.memories),
            "documents": len(found.knowledge),
        },
        "chats": [_chat(c) for c in found.chats],
        "memory_areas": _areas(found.memories),
        "knowledge_files": [k.entry for k in found.knowledge],
        "settings": found.settings,
        "dropped": _dropped(found),
        "skipped": found.skipped,
        "secrets_not_imported": found.secrets,
    }


def _chat(chat: chats.Chat) -> dict[str, Any]:
    first = {role: text if text is None else text[:SHOWN_CHARS] for role, text in chat.first_exchange().items()}
    return {"name": chat.name, "created_at": chat.created_at, "messages": len(chat.messages), "first_exchange": first}


def _areas(memories: list[contents.Memory]) -> dict[str, int]:
    areas: dict[str, int] = {}
    for memory in memories:
        areas[memory.area] = areas.get(memory.area, 0) + 1
    return areas


def _dropped(found: contents.Contents) -> list[dict[str, str]]:
    """What Soma leaves behind, each with why."""
    out = []
    steps = sum(c.tool_steps for c in found.chats)
    if steps:
        out.append({"what": f"{steps} tool calls and results in chats", "why": "steps of Agent Zero's tool loop: Soma keeps the questions and answers"})
    logs = sum(c.log_entries for c in found.chats)
    if logs:
        out.append({"what": f"{logs} chat log entries", "why": "tool and progress logs: Soma keeps only the messages"})
    for folder, why in contents.DROPPED.items():
        if found.unused[folder]:
            out.append({"what": f"{found.unused[folder]} files in {folder}/", "why": why})
    if found.unused["memory files"]:
        out.append({"what": f"{found.unused['memory files']} memory index files (vectors, embedding settings)",
                    "why": "Soma embeds the memories again with its own model"})  # fmt: skip
    if found.other_settings:
        names = ", ".join(found.other_settings[:5]) + (", …" if len(found.other_settings) > 5 else "")
        out.append({"what": f"{len(found.other_settings)} other settings ({names})", "why": "no Soma equivalent"})
    if found.secrets:
        out.append({"what": ", ".join(s["file"] for s in found.secrets), "why": "secrets are never imported: enter keys in Soma's vault"})
    if found.unused["other"]:
        out.append({"what": f"{found.unused['other']} other files", "why": "not chats, memories, knowledge or settings"})
    if found.outside:
        out.append({"what": f"{len(found.outside)} files outside Agent Zero's folder", "why": "never read"})
    return out


def text(found: dict[str, Any]) -> str:
    """The preview for people, one fact a line."""
    c = found["counts"]
    lines = [
        f"format:          agent-zero ({found['layout']} layout)",
        f"agent zero:      {found['agent_zero_version']}",
        f"made at:         {found['timestamp']}",
        f"brings:          {c['sessions']} chats ({c['messages']} messages), {c['memories']} memories, {c['documents']} knowledge files",
    ]
    for chat in found["chats"]:
        first = chat["first_exchange"]
        lines.append(f"  chat {chat['name']!r}: {_short(first['user'])} -> {_short(first['assistant'])}")
    lines += [f"  setting {s['key']} = {_short(s['value'])} (from {s['from']})" for s in found["settings"]]
    lines += [f"dropped:         {d['what']}: {d['why']}" for d in found["dropped"]]
    lines += [f"skipped:         {s['what']}: {s['why']}" for s in found["skipped"]]
    lines += [f"not imported:    {s['file']} holds {', '.join(s['keys']) or 'no keys'} (values not shown)" for s in found["secrets_not_imported"]]
    return "\n".join(lines)


def _short(value: Any, width: int = 60) -> str:
    shown = "(none)" if value is None else " ".join(str(value).split())
    return shown if len(shown) <= width else shown[: width - 1] + "…"
