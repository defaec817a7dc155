"""Building the messages sent to the SLM: system prompt, recalled memories, knowledge excerpts, history."""

from __future__ import annotations

from typing import Any


def build(
    system_prompt: str,
    history: list[dict[str, Any]],
    memories: list[dict[str, Any]] | None = None,
    excerpts: list[dict[str, Any]] | None = None,
) -> list[dict[str, str]]:
    """OpenAI chat messages: one system message with what the agent knows, then the conversation."""
    system = "\n\n".join(part for part in (system_prompt.strip(), _memories(memories), _excerpts(excerpts)) if part)
    prompt = [{"role": "system", "content": system}] if system else []
    # An answer stopped before its first word is empty: some servers refuse an empty assistant message.
    prompt += [{"role": m["role"], "content": m["content"]} for m in history if m["content"] or m["role"] == "user"]
    return prompt


def _memories(memories: list[dict[str, Any]] | None) -> str:
    if not memories:
        return ""
    return "What you remember:\n" + "\n".join(f"- {m['content']}" for m in memories)


def _excerpts(excerpts: list[dict[str, Any]] | None) -> str:
    if not excerpts:
        return ""
    lines = [f"[{n}] ({e['filename']}) {e['content']}" for n, e in enumerate(excerpts, 1)]
    return "Excerpts from the knowledge files; cite them as [n]:\n" + "\n".join(lines)


def citations(excerpts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an answer built on these excerpts cites: document, file name and chunk."""
    return [
        {"n": n, "document_id": e["document_id"], "filename": e["filename"], "chunk_id": e["chunk_id"], "ordinal": e["ordinal"]}
        for n, e in enumerate(excerpts, 1)
    ]


def with_note(chat: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """The chat with `note` added to its system message (or as one, when it has none)."""
    if chat and chat[0]["role"] == "system":
        return [{"role": "system", "content": f"{chat[0]['content']}\n\n{note}"}, *chat[1:]]
    return [{"role": "system", "content": note}, *chat]
