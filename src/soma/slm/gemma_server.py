"""llama-cpp-python's server with a chat format that suits the packaged Gemma 3 270M.

The packaged GGUF is the pretrained (base) model with no chat template: Gemma's turn markers
make it echo the prompt, while a plain transcript ("User: … / Soma: …") gets short, on-topic
answers. Run as `python -m soma.slm.gemma_server <llama_cpp.server arguments>`.
"""

from __future__ import annotations

from typing import Any

from llama_cpp import llama_chat_format as formats
from llama_cpp.server import __main__ as server

FORMAT = "soma-transcript"
ROLES = {"user": "User", "assistant": "Soma"}
STOP = ["\nUser:", "\n\n"]


@formats.register_chat_format(FORMAT)
def format_transcript(messages: list[dict[str, Any]], **_: Any) -> formats.ChatFormatterResponse:
    """The system text, then the conversation as a transcript that ends where Soma speaks next."""
    system = "\n\n".join(_text(m) for m in messages if m["role"] == "system")
    lines = [f"{ROLES.get(m['role'], 'User')}: {_text(m).strip()}" for m in messages if m["role"] != "system"]
    prompt = (system + "\n\n" if system else "") + "\n".join(lines) + f"\n{ROLES['assistant']}:"
    return formats.ChatFormatterResponse(prompt=prompt, stop=STOP)


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


if __name__ == "__main__":
    server.main()
