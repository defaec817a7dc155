"""Building the messages sent to the SLM: system prompt, recalled memories, knowledge excerpts, history, attached files."""

from __future__ import annotations

from typing import Any


def build(
    system_prompt: str,
    history: list[dict[str, Any]],
    memories: list[dict[str, Any]] | None = None,
    excerpts: list[dict[str, Any]] | None = None,
) -> list[dict[str, str]]:
    """OpenAI chat messages: one system message with what the agent knows, then the conversation.

    The last message of `history` is the question: the text its files give the turn comes with it
    (their `files`, as workspaces.attachments.describe recorded them); earlier messages name theirs.
    """
    system = "\n\n".join(part for part in (system_prompt.strip(), _memories(memories), _excerpts(excerpts)) if part)
    prompt = [{"role": "system", "content": system}] if system else []
    question = len(history) - 1
    # An answer stopped before its first word is empty: some servers refuse an empty assistant message.
    prompt += [
        {"role": m["role"], "content": _with_files(m, whole=n == question)}
        for n, m in enumerate(history)
        if m["content"] or m["role"] == "user"
    ]
    return prompt


FILES_HEADING = "[Files attached to this message, in your workspace; open them with code to read them whole:]"


def _with_files(message: dict[str, Any], whole: bool) -> str:
    """A message's text with its files: each with the text the turn reads when `whole`, else their names."""
    files = message.get("files")
    if not files:
        return message["content"]
    if not whole:
        names = ", ".join(file["path"] for file in files)
        return "\n\n".join(part for part in (message["content"], f"[Files attached to this message, in your workspace: {names}]") if part)
    return "\n\n".join(part for part in (message["content"], FILES_HEADING, *map(_file, files)) if part)


def _file(file: dict[str, Any]) -> str:
    """One attached file for the SLM: its name, type and size, then its text, or why there is none."""
    head = f"--- {file['path']} ({file['type']}, {file['size']} bytes) ---"
    if file["excerpt"] is not None:
        return f"{head}\n{file['excerpt']}" + ("\n[… cut here: the rest is in the file]" if file["cut"] else "")
    return f"{head}\n[{file['note'] or 'Not text: open it with code.'}]"


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
