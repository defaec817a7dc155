"""The `remember` and `forget` tools: their OpenAI definitions, and carrying out a call against the store."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.embeddings.embedder import Embedder
from soma.memory import store

# Forgetting by description drops only the closest memory, and only when it is this similar
# (cosine): "my favourite colour is blue" (0.71) must not take "my favourite colour is teal" along.
FORGET_SIMILARITY = 0.8

DEFINITIONS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "remember",
            "description": "Save a fact to long-term memory, to recall in later conversations. "
            "Use it when the user asks you to remember something or shares a lasting fact about themselves.",
            "parameters": {
                "type": "object",
                "properties": {"content": {"type": "string", "description": "The fact, as one self-contained sentence."}},
                "required": ["content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "forget",
            "description": "Remove a fact from long-term memory, when the user asks you to forget it or it is no longer true.",
            "parameters": {
                "type": "object",
                "properties": {
                    "content": {"type": "string", "description": "The fact to forget, worded as it was remembered."},
                    "id": {"type": "integer", "description": "The memory's id, when known."},
                },
            },
        },
    },
]


class Toolbox:
    """One turn's memory tools; it keeps the ids of the memories the turn stored and removed."""

    definitions = DEFINITIONS

    def __init__(self, engine: AsyncEngine, embedder: Embedder) -> None:
        self._engine = engine
        self._embedder = embedder
        self.remembered: list[int] = []
        self.forgotten: list[int] = []

    async def call(self, name: str, arguments: str) -> str:
        """Carry out a tool call as the SLM sent it (arguments as JSON text); the result is text for the SLM."""
        try:
            parsed = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return f"Nothing changed: the arguments {arguments!r} are not valid JSON. Send a JSON object."
        if not isinstance(parsed, dict):
            return f"Nothing changed: the arguments {arguments!r} are not a JSON object."
        return await self.execute(name, parsed)

    async def execute(self, name: str, arguments: dict[str, Any]) -> str:
        """Carry out `remember` {content} or `forget` {content or id}; problems come back as text, not errors."""
        try:
            if name == "remember":
                return await self._remember(arguments.get("content"))
            if name == "forget":
                return await self._forget(arguments.get("content"), arguments.get("id"))
        except errors.SomaError as exc:
            return f"Nothing changed: {exc.message}"
        return f"Nothing changed: there is no tool named {name!r}; the tools are remember and forget."

    async def _remember(self, content: object) -> str:
        if not isinstance(content, str):
            return 'Nothing changed: remember needs {"content": "the fact"}.'
        async with self._engine.begin() as conn:
            memory = await store.create(conn, self._embedder, content, source="agent")
        if memory["id"] not in self.remembered:
            self.remembered.append(memory["id"])
        if memory["merged"]:
            return f"Updated memory {memory['id']}, which said the same, to: {memory['content']}"
        return f"Remembered as memory {memory['id']}: {memory['content']}"

    async def _forget(self, content: object, memory_id: object) -> str:
        async with self._engine.begin() as conn:
            if isinstance(memory_id, int) and not isinstance(memory_id, bool):
                memory = await store.delete(conn, memory_id)
            elif isinstance(content, str):
                found = await store.search(conn, self._embedder, content, limit=1)
                if not found or found[0]["similarity"] < FORGET_SIMILARITY:
                    return f"Nothing changed: no memory is close to {content!r}."
                memory = await store.delete(conn, found[0]["id"])
            else:
                return 'Nothing changed: forget needs {"content": "the fact"} or {"id": the memory\'s id}.'
        self.forgotten.append(memory["id"])
        return f"Forgot memory {memory['id']}: {memory['content']}"
