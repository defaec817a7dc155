"""What an Agent Zero backup holds that Soma can take, read entry by entry into plain data.

Both the preview (`soma backup inspect`, POST /v1/restores) and the import (convert.py) start
from Contents, so what the preview promises is exactly what a restore brings.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pydantic

from soma import errors
from soma.agent_zero import archive, chats, pickle_reader
from soma.knowledge import parsers
from soma.memory import store as memory_store
from soma.settings import store as settings_store

SETTINGS_BYTES = 4 << 20  # settings.json, a prompt or a .env is a few KB
CHAT_BYTES = 256 << 20
HASH_BYTES = 1 << 20  # a knowledge file is hashed this many bytes at a time
PROMPT = "prompts/agent.system.main.role.md"  # the prompt file that says who the agent is
ENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")

# Parts of Agent Zero Soma has no place for, by the folder they sit in (0.9.8+ under usr/, older under tmp/).
DROPPED = {
    "scheduler": "scheduled tasks: Soma has no task scheduler",
    "projects": "projects: Soma has no projects; their files stay in Agent Zero",
    "skills": "skills: Soma does not run Agent Zero's skills",
    "uploads": "uploaded files: Soma does not keep a chat's uploads",
}


@dataclass(frozen=True)
class Memory:
    """One memory of Agent Zero's index: its text, its area (main, fragments, solutions) and when it was made."""

    text: str
    area: str
    created_at: datetime.datetime | None


@dataclass(frozen=True)
class KnowledgeFile:
    """A knowledge file Soma reads: its entry (relative to Agent Zero's folder) and what its upload would record."""

    entry: str
    filename: str
    content_type: str
    sha256: str
    size: int


@dataclass
class Contents:
    """Everything the preview shows and the import brings, with what is left behind and why."""

    metadata: dict[str, Any]
    legacy: bool  # the 0.9.4–0.9.7 layout, without usr/
    chats: list[chats.Chat] = field(default_factory=list)
    memories: list[Memory] = field(default_factory=list)
    knowledge: list[KnowledgeFile] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)  # {"key", "value", "from"} of Soma's settings
    other_settings: list[str] = field(default_factory=list)  # Agent Zero settings with no Soma equivalent
    secrets: list[dict[str, Any]] = field(default_factory=list)  # {"file", "keys"}: key names only
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"what", "why"}: entries that could not be taken
    unused: Counter[str] = field(default_factory=Counter)  # files left behind, by the reason's key
    outside: list[str] = field(default_factory=list)  # entries outside Agent Zero's folder

    @property
    def layout(self) -> str:
        return "0.9.4-0.9.7" if self.legacy else "0.9.8+"


def read(arc: archive.Archive, upload_limit: int = archive.MAX_ENTRY_BYTES) -> Contents:
    """The contents of an opened backup; knowledge files over upload_limit bytes are skipped with the reason."""
    found = Contents(arc.metadata, legacy=not any(n.startswith("usr/") for n in arc.names), outside=list(arc.outside))
    reader = _Reader(arc, found, upload_limit)
    for name in arc.names:
        reader.add(name)
    found.settings, found.other_settings = _settings(arc, found)
    return found


class _Reader:
    """Sorts each entry into the contents."""

    def __init__(self, arc: archive.Archive, found: Contents, upload_limit: int) -> None:
        self.arc, self.found, self.upload_limit = arc, found, upload_limit
        self.memory_texts: set[str] = set()
        self.contents: dict[str, str] = {}  # sha256 -> the entry first seen with it

    def add(self, name: str) -> None:
        parts = PurePosixPath(name).parts
        inner = parts[1:] if parts[0] in ("usr", "tmp") and len(parts) > 1 else parts
        if parts[-1] == "chat.json" and len(inner) == 3 and inner[0] == "chats":
            self._chat(name, inner[1])
        elif parts[-1] == "index.pkl" and len(inner) == 3 and inner[0] == "memory":
            self._memories(name)
        elif inner[0] == "knowledge" and (parts[0] == "usr" or (self.found.legacy and inner[1:2] == ("custom",))):
            self._knowledge(name)
        elif parts[-1] in (".env", "secrets.env"):
            self._secrets(name)
        elif inner[0] in DROPPED and len(inner) > 1:
            self.found.unused[inner[0]] += 1
        elif inner[0] == "memory":
            self.found.unused["memory files"] += 1
        elif not (parts[-1] == "settings.json" or name.endswith(PROMPT)):
            self.found.unused["other"] += 1

    def skip(self, what: str, why: str) -> None:
        self.found.skipped.append({"what": what, "why": why})

    def _chat(self, name: str, chat_id: str) -> None:
        try:
            self.found.chats.append(chats.parse(self.arc.read(name, CHAT_BYTES), chat_id))
        except chats.ChatUnreadable as exc:
            self.skip(name, f"malformed chat.json: {exc}")

    def _memories(self, name: str) -> None:
        try:
            memories = pickle_reader.read_index(self.arc.read(name))
        except (errors.AgentZeroPickleRefused, errors.AgentZeroArchiveBroken) as exc:
            self.skip(name, exc.message)
            return
        for memory in memories:
            text = memory["text"].strip()
            if not text or text in self.memory_texts:
                continue  # Soma would merge it into the same memory
            if len(text) > memory_store.MAX_CHARS:
                self.skip(f"memory {memory['id']}", f"{len(text)} characters, over Soma's {memory_store.MAX_CHARS} for a memory: "
                          "add it as a knowledge file instead")  # fmt: skip
                continue
            self.memory_texts.add(text)
            metadata = memory["metadata"]
            self.found.memories.append(Memory(text, str(metadata.get("area") or "main"), timestamp(metadata.get("timestamp"))))

    def _knowledge(self, name: str) -> None:
        filename = PurePosixPath(name).name
        try:
            content_type = parsers.content_type_for(filename, None)
        except errors.UnsupportedFileType:
            self.skip(name, "not a knowledge file Soma reads (md, txt, pdf, csv, html, json)")
            return
        size, sha256 = self._hash(name)
        if size > self.upload_limit:
            self.skip(name, f"{size} bytes, over the upload limit of {self.upload_limit} (the upload_max_bytes setting)")
        elif sha256 in self.contents:
            self.skip(name, f"the same content as {self.contents[sha256]}")
        else:
            self.contents[sha256] = name
            self.found.knowledge.append(KnowledgeFile(name, filename, content_type, sha256, size))

    def _hash(self, name: str) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        for chunk in self.arc.chunks(name, HASH_BYTES):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    def _secrets(self, name: str) -> None:
        text = self.arc.read(name, SETTINGS_BYTES).decode("utf-8", "replace")
        keys = sorted({m.group(1) for line in text.splitlines() if (m := ENV_KEY.match(line))})
        self.found.secrets.append({"file": name, "keys": keys})


def timestamp(value: Any) -> datetime.datetime | None:
    """An Agent Zero time ("2025-11-01 08:00:00", "2025-11-01T08:00:00.123"): the container's clock, taken as UTC."""
    try:
        parsed = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=datetime.UTC) if parsed is not None and parsed.tzinfo is None else parsed


def _settings(arc: archive.Archive, found: Contents) -> tuple[list[dict[str, Any]], list[str]]:
    """Agent Zero settings that map to Soma's (key, value, from) and the names of those that do not."""
    name = "tmp/settings.json" if found.legacy else "usr/settings.json"
    raw: dict[str, Any] = {}
    if name in arc.names:
        try:
            loaded = json.loads(arc.read(name, SETTINGS_BYTES))
            raw = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            found.skipped.append({"what": name, "why": "not JSON: no setting is taken from it"})
    mapped = []
    if isinstance(raw.get("chat_model_name"), str) and raw["chat_model_name"]:
        mapped.append({"key": "slm_model", "value": raw["chat_model_name"], "from": f"{name}: chat_model_name"})
    temperature = _temperature(raw.get("chat_model_kwargs"))
    if temperature is not None:
        mapped.append({"key": "temperature", "value": temperature, "from": f"{name}: chat_model_kwargs.temperature"})
    prompt = f"{'' if found.legacy else 'usr/'}agents/{raw.get('agent_profile') or 'agent0'}/{PROMPT}"
    if prompt in arc.names:
        text = arc.read(prompt, SETTINGS_BYTES).decode("utf-8", "replace").strip()
        mapped.append({"key": "system_prompt", "value": text, "from": prompt})
    used = {"chat_model_name", "chat_model_kwargs", "agent_profile"}
    return [m for m in mapped if _fits(m, found)], sorted(k for k, v in raw.items() if k not in used and v not in ("", None, {}, []))


def _fits(setting: dict[str, Any], found: Contents) -> bool:
    """Whether Soma accepts the value; if not, it is skipped with Soma's reason."""
    try:
        settings_store.AgentSettings.model_validate({setting["key"]: setting["value"]})
    except pydantic.ValidationError as exc:
        found.skipped.append({"what": setting["from"], "why": f"Soma refuses it as {setting['key']}: {settings_store.problems(exc)}"})
        return False
    return True


def _temperature(kwargs: Any) -> float | None:
    """Agent Zero keeps model kwargs as strings ("0.7"); Soma takes 0 to 2."""
    value = kwargs.get("temperature") if isinstance(kwargs, dict) else None
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 0 <= number <= 2 else None
