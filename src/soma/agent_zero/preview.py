"""What an Agent Zero backup would bring into Soma and what it would not, as one dict (for `soma backup inspect`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from soma import errors
from soma.agent_zero import archive, chats, pickle_reader

KNOWLEDGE_SUFFIXES = {".md", ".txt", ".pdf", ".csv", ".html", ".json"}
SETTINGS_BYTES = 4 << 20  # settings.json, a prompt or a .env is a few KB
CHAT_BYTES = 256 << 20
PROMPT = "prompts/agent.system.main.role.md"  # the prompt file that says who the agent is
ENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")

# Parts of Agent Zero Soma has no place for, by the folder they sit in (0.9.8+ under usr/, older under tmp/).
DROPPED = {
    "scheduler": "scheduled tasks: Soma has no task scheduler",
    "projects": "projects: Soma has no projects; their files stay in Agent Zero",
    "skills": "skills: Soma does not run Agent Zero's skills",
    "uploads": "uploaded files: Soma does not keep a chat's uploads",
}


def preview(file: BinaryIO) -> dict[str, Any]:
    """The preview of the Agent Zero backup in file; a BackupInvalid subclass when the zip is refused."""
    arc = archive.open_archive(file)
    meta = arc.metadata
    legacy = not any(n.startswith("usr/") for n in arc.names)
    found = _Found()
    for name in arc.names:
        found.add(arc, name, legacy)
    settings, other = _settings(arc, legacy)
    return {
        "format": "agent-zero",
        "agent_zero_version": meta["agent_zero_version"],
        "timestamp": meta.get("timestamp"),
        "backup_name": meta.get("backup_name"),
        "layout": "0.9.4-0.9.7" if legacy else "0.9.8+",
        "counts": {
            "chats": len(found.chats),
            "messages": sum(len(c.messages) for c in found.chats),
            "memories": sum(found.memory_areas.values()),
            "knowledge_files": len(found.knowledge),
        },
        "chats": [_chat(c) for c in found.chats],
        "memory_areas": dict(found.memory_areas),
        "knowledge_files": found.knowledge,
        "settings": settings,
        "dropped": found.dropped(other, arc.outside),
        "skipped": found.skipped,
        "secrets_not_imported": found.secrets,
    }


def _chat(chat: chats.Chat) -> dict[str, Any]:
    return {"name": chat.name, "created_at": chat.created_at, "messages": len(chat.messages), "first_exchange": chat.first_exchange()}


class _Found:
    """What the entries hold, collected one entry at a time."""

    def __init__(self) -> None:
        self.chats: list[chats.Chat] = []
        self.memory_areas: Counter[str] = Counter()
        self.knowledge: list[str] = []
        self.secrets: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.unused: Counter[str] = Counter()

    def add(self, arc: archive.Archive, name: str, legacy: bool) -> None:
        parts = PurePosixPath(name).parts
        inner = parts[1:] if parts[0] in ("usr", "tmp") and len(parts) > 1 else parts
        if parts[-1] == "chat.json" and len(inner) == 3 and inner[0] == "chats":
            self._chat(arc, name, inner[1])
        elif parts[-1] == "index.pkl" and len(inner) == 3 and inner[0] == "memory":
            self._memories(arc, name)
        elif inner[0] == "knowledge" and (parts[0] == "usr" or (legacy and inner[1:2] == ("custom",))):
            self._knowledge(name)
        elif parts[-1] in (".env", "secrets.env"):
            self._secrets(arc, name)
        elif inner[0] in DROPPED and len(inner) > 1:
            self.unused[inner[0]] += 1
        elif inner[0] == "memory":
            self.unused["memory files"] += 1
        elif not (parts[-1] == "settings.json" or name.endswith(PROMPT)):
            self.unused["other"] += 1

    def _chat(self, arc: archive.Archive, name: str, chat_id: str) -> None:
        try:
            self.chats.append(chats.parse(arc.read(name, CHAT_BYTES), chat_id))
        except chats.ChatUnreadable as exc:
            self.skipped.append({"what": name, "why": f"malformed chat.json: {exc}"})

    def _memories(self, arc: archive.Archive, name: str) -> None:
        try:
            memories = pickle_reader.read_index(arc.read(name))
        except (errors.AgentZeroPickleRefused, errors.AgentZeroArchiveBroken) as exc:
            self.skipped.append({"what": name, "why": exc.message})
            return
        for memory in memories:
            self.memory_areas[str(memory["metadata"].get("area") or "main")] += 1

    def _knowledge(self, name: str) -> None:
        if PurePosixPath(name).suffix.lower() in KNOWLEDGE_SUFFIXES:
            self.knowledge.append(name)
        else:
            self.skipped.append({"what": name, "why": "not a knowledge file Soma reads (md, txt, pdf, csv, html, json)"})

    def _secrets(self, arc: archive.Archive, name: str) -> None:
        text = arc.read(name, SETTINGS_BYTES).decode("utf-8", "replace")
        keys = sorted({m.group(1) for line in text.splitlines() if (m := ENV_KEY.match(line))})
        self.secrets.append({"file": name, "keys": keys})

    def dropped(self, other_settings: list[str], outside: list[str]) -> list[dict[str, str]]:
        """What Soma leaves behind, each with why."""
        out = []
        logs = sum(c.log_entries for c in self.chats)
        if logs:
            out.append({"what": f"{logs} chat log entries", "why": "tool and progress logs: Soma keeps only the messages"})
        for folder, why in DROPPED.items():
            if self.unused[folder]:
                out.append({"what": f"{self.unused[folder]} files in {folder}/", "why": why})
        if self.unused["memory files"]:
            out.append({"what": f"{self.unused['memory files']} memory index files (vectors, embedding settings)",
                        "why": "Soma embeds the memories again with its own model"})  # fmt: skip
        if other_settings:
            out.append({"what": f"{len(other_settings)} other settings ({', '.join(other_settings[:5])}, …)", "why": "no Soma equivalent"})
        if self.secrets:
            out.append({"what": ", ".join(s["file"] for s in self.secrets), "why": "secrets are never imported: enter keys in Soma's vault"})
        if self.unused["other"]:
            out.append({"what": f"{self.unused['other']} other files", "why": "not chats, memories, knowledge or settings"})
        if outside:
            out.append({"what": f"{len(outside)} files outside Agent Zero's folder", "why": "never read"})
        return out


def _settings(arc: archive.Archive, legacy: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Agent Zero settings that map to Soma's (key, value, from) and the names of those that do not."""
    name = "tmp/settings.json" if legacy else "usr/settings.json"
    raw: dict[str, Any] = {}
    if name in arc.names:
        try:
            loaded = json.loads(arc.read(name, SETTINGS_BYTES))
            raw = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            raw = {}
    mapped = []
    if isinstance(raw.get("chat_model_name"), str) and raw["chat_model_name"]:
        mapped.append({"key": "slm_model", "value": raw["chat_model_name"], "from": f"{name}: chat_model_name"})
    temperature = _temperature(raw.get("chat_model_kwargs"))
    if temperature is not None:
        mapped.append({"key": "temperature", "value": temperature, "from": f"{name}: chat_model_kwargs.temperature"})
    prompt = f"{'' if legacy else 'usr/'}agents/{raw.get('agent_profile') or 'agent0'}/{PROMPT}"
    if prompt in arc.names:
        text = arc.read(prompt, SETTINGS_BYTES).decode("utf-8", "replace").strip()
        mapped.append({"key": "system_prompt", "value": text, "from": prompt})
    used = {"chat_model_name", "chat_model_kwargs", "agent_profile"}
    return mapped, sorted(k for k, v in raw.items() if k not in used and v not in ("", None, {}, []))


def _temperature(kwargs: Any) -> float | None:
    """Agent Zero keeps model kwargs as strings ("0.7"); Soma takes 0 to 2."""
    value = kwargs.get("temperature") if isinstance(kwargs, dict) else None
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 0 <= number <= 2 else None


def text(found: dict[str, Any]) -> str:
    """The preview for people, one fact a line."""
    c = found["counts"]
    lines = [
        f"format:          agent-zero ({found['layout']} layout)",
        f"agent zero:      {found['agent_zero_version']}",
        f"made at:         {found['timestamp']}",
        f"brings:          {c['chats']} chats ({c['messages']} messages), {c['memories']} memories, {c['knowledge_files']} knowledge files",
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
