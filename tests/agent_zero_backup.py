"""Writes Agent Zero backup zips as Agent Zero does (helpers/backup.py), for the 0.9.7 and 1.7 layouts, hostile ones too."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = "/a0"
HANDBOOK = "# Office handbook\n\nThe coffee machine on the third floor is descaled every Friday evening by the night porter.\n"
ENV = "API_KEY_OPENAI=sk-secret-openai\nexport AUTH_LOGIN=admin\n# a comment\nAUTH_PASSWORD=hunter2\n"


def metadata(version: str, paths: dict[str, bytes]) -> dict[str, Any]:
    """metadata.json as BackupService.create_backup writes it (numbers in system_info are strings)."""
    return {
        "agent_zero_version": version,
        "timestamp": "2025-11-02T10:15:00.123456",
        "backup_name": "agent-zero-backup-2025-11-02",
        "include_hidden": True,
        "include_patterns": [f"{ROOT}/usr/**"],
        "exclude_patterns": [f"{ROOT}/usr/**/__pycache__/**"],
        "system_info": {"platform": "Linux-6.8", "cpu_count": "8", "memory_total": "16777216000"},
        "environment_info": {"agent_zero_root": ROOT, "user": "root", "home": "/root", "runtime_mode": "production"},
        "backup_author": "root@agent-zero",
        "backup_config": {"include_patterns": [f"{ROOT}/usr/**"], "exclude_patterns": [], "include_hidden": True,
                          "compression_level": 6, "integrity_check": True},  # fmt: skip
        "files": [{"path": p, "size": len(d), "modified": "2025-11-01T09:00:00", "type": "file"} for p, d in paths.items()],
        "total_files": len(paths),
        "backup_size": sum(len(d) for d in paths.values()),
        "directory_count": len({str(Path(p).parent) for p in paths}),
    }


def history(topics: list[list[tuple[bool, Any]]], current: list[tuple[bool, Any]], summarised: str = "") -> str:
    """History.serialize(): a JSON string; a topic with no messages left keeps only its summary."""
    def topic(messages: list[tuple[bool, Any]], summary: str = "") -> dict[str, Any]:
        return {"_cls": "Topic", "summary": summary, "messages": [
            {"_cls": "Message", "id": f"m{i}", "ai": ai, "content": c, "summary": "", "tokens": 12} for i, (ai, c) in enumerate(messages)]}  # fmt: skip

    bulks = [{"_cls": "Bulk", "summary": summarised, "records": []}] if summarised else []
    return json.dumps({"_cls": "History", "counter": 3, "bulks": bulks, "topics": [topic(t) for t in topics], "current": topic(current)})


def chat(chat_id: str, name: str, agent_history: str, logs: int = 2) -> bytes:
    """chat.json as persist_chat._serialize_context writes it."""
    return json.dumps({
        "id": chat_id, "name": name, "created_at": "2025-11-01T08:00:00", "type": "user", "last_message": "2025-11-01T08:05:00",
        "agents": [{"number": 0, "data": {}, "history": agent_history}, {"number": 1, "data": {}, "history": history([], [])}],
        "streaming_agent": 0,
        "log": {"guid": "g", "logs": [{"no": i, "type": "tool", "heading": "code_execution", "content": "ls"} for i in range(logs)],
                "progress": "", "progress_no": 0},
    }).encode()  # fmt: skip


@contextlib.contextmanager
def _langchain_stand_ins() -> Iterator[tuple[type, type]]:
    """InMemoryDocstore and Document under LangChain's module and class names, only while pickling."""
    class InMemoryDocstore:
        def __init__(self, docs: dict[str, Any]) -> None:
            self._dict = docs

    class Document:  # pydantic v2 pickles its fields under __dict__, with a set of the fields given
        def __init__(self, page_content: str, metadata: dict[str, Any]) -> None:
            self.state = {"__dict__": {"id": None, "metadata": metadata, "page_content": page_content, "type": "Document"},
                          "__pydantic_extra__": None, "__pydantic_fields_set__": {"page_content", "metadata"},
                          "__pydantic_private__": None}  # fmt: skip

        def __getstate__(self) -> dict[str, Any]:
            return self.state

    names = {"langchain_community.docstore.in_memory": InMemoryDocstore, "langchain_core.documents.base": Document}
    packages = {".".join(m.split(".")[:i]) for m in names for i in range(1, m.count(".") + 2)}  # pickle imports each parent
    saved = {m: sys.modules.get(m) for m in packages}
    for module in packages:
        sys.modules[module] = types.ModuleType(module)
    for module, cls in names.items():
        cls.__module__, cls.__qualname__ = module, cls.__name__
        setattr(sys.modules[module], cls.__name__, cls)
    try:
        yield InMemoryDocstore, Document
    finally:
        for module, old in saved.items():
            if old is None:
                del sys.modules[module]
            else:
                sys.modules[module] = old


def index_pkl(memories: list[tuple[str, str]], protocol: int = pickle.DEFAULT_PROTOCOL) -> bytes:
    """index.pkl as FAISS.save_local writes it: pickle.dumps((docstore, index_to_docstore_id))."""
    with _langchain_stand_ins() as (docstore, document):
        docs = {f"id{i}": document(text, {"id": f"id{i}", "timestamp": "2025-11-01 08:00:00", "area": area})
                for i, (area, text) in enumerate(memories)}  # fmt: skip
        return pickle.dumps((docstore(docs), dict(enumerate(docs))), protocol=protocol)


class Evil:
    """A pickle that runs a shell command when loaded by a plain pickle.load."""

    def __init__(self, command: str = "echo pwned") -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (self.command,))


def evil_pickle(command: str) -> bytes:
    """An index.pkl that runs command when unpickled by anything but a restricted unpickler."""
    return pickle.dumps(Evil(command))


def files(version: str) -> dict[str, bytes]:
    """Every entry (absolute path → bytes) of a typical backup of that version's layout."""
    legacy = version.startswith("v0.9.7")
    usr, chats, mem, knowledge, settings, env = (
        (f"{ROOT}/", f"{ROOT}/tmp/chats", f"{ROOT}/memory", f"{ROOT}/knowledge/custom", f"{ROOT}/tmp/settings.json", f"{ROOT}/.env")
        if legacy else
        (f"{ROOT}/usr/", f"{ROOT}/usr/chats", f"{ROOT}/usr/memory", f"{ROOT}/usr/knowledge", f"{ROOT}/usr/settings.json", f"{ROOT}/usr/.env")
    )  # fmt: skip
    first = history([[(False, {"user_message": "What is the capital of France?", "attachments": []}),
                      (True, {"thoughts": ["look it up"], "tool_name": "knowledge_tool", "tool_args": {"question": "capital of France"}}),
                      (False, {"tool_name": "knowledge_tool", "tool_result": "Paris is the capital of France."}),
                      (True, {"thoughts": ["found"], "tool_name": "response", "tool_args": {"text": "Paris."}})]],
                    [(False, "And of Italy?"), (True, "Rome.")])  # fmt: skip
    second = history([], [(False, "Summarise my notes"), (True, "Done.")], summarised="Earlier we planned a trip.")
    out = {
        f"{chats}/c1/chat.json": chat("c1", "Capitals", first),
        f"{chats}/c2/chat.json": chat("c2", "Notes", second, logs=1),
        f"{mem}/default/index.pkl": index_pkl([("main", "User lives in Lyon"), ("fragments", "Likes tea"), ("solutions", "Use ls -la")]),
        f"{mem}/default/index.faiss": b"\x00faiss",
        f"{mem}/default/embedding.json": b'{"model_provider": "huggingface"}',
        f"{knowledge}/main/handbook.md": HANDBOOK.encode(),
        f"{knowledge}/fragments/notes.txt": b"notes",
        f"{knowledge}/solutions/photo.png": b"\x89PNG",
        settings: json.dumps({"chat_model_provider": "openai", "chat_model_name": "gpt-4.1", "chat_model_kwargs": {"temperature": "0.2"},
                              "agent_profile": "agent0", "api_keys": {}, "auth_login": "", "rfc_port_http": 55080}).encode(),  # fmt: skip
        env: ENV.encode(),
        f"{usr}scheduler/tasks.json": b'{"tasks": []}',
    }
    if not legacy:
        out[f"{ROOT}/usr/secrets.env"] = b"GITHUB_TOKEN=ghp_x\n"
        out[f"{ROOT}/usr/projects/p1/.a0proj/project.json"] = b"{}"
        out[f"{ROOT}/usr/skills/pdf/SKILL.md"] = b"# skill"
        out[f"{ROOT}/usr/agents/agent0/prompts/agent.system.main.role.md"] = b"You are Agent Zero, a careful assistant."
    return out


def write(path: Path, version: str = "M v1.7", entries: dict[str, bytes] | None = None, raw: dict[str, bytes] | None = None) -> Path:
    """A backup zip at path: metadata.json then every file under its path without the leading /; raw entries as named."""
    entries = files(version) if entries is None else entries
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps(metadata(version, entries), indent=2))
        for name, data in entries.items():
            zf.writestr(name.lstrip("/"), data)
        for name, data in (raw or {}).items():
            zf.writestr(name, data)
    return path


def with_symlink(path: Path) -> Path:
    """A backup holding a symbolic link entry (S_IFLNK in the external attributes) to /etc/passwd."""
    write(path)
    info = zipfile.ZipInfo("a0/usr/knowledge/main/passwd.md")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    return path


def to_bytes(path: Path) -> io.BytesIO:
    """The file's bytes as a stream."""
    return io.BytesIO(path.read_bytes())
