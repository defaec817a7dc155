"""The built-in tools at work: `remember`, `forget`, `search_memory` and `search_knowledge` against the stores.

Their specs are in builtins.py. Each run uses a pooled connection of its own for as long as it
needs it, and answers in words: a bad argument or a missing memory is a result the SLM reads
(ok False), never an exception.
"""

from __future__ import annotations

import abc
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from soma import errors
from soma.embeddings.embedder import Embedder
from soma.knowledge import store as knowledge
from soma.memory import store as memory
from soma.tools import builtins
from soma.tools.registry import CallContext, Tool, ToolResult, ToolSpec

# Forgetting by description drops only the closest memory, and only when it is this similar
# (cosine): "my favourite colour is blue" (0.71) must not take "my favourite colour is teal" along.
FORGET_SIMILARITY = 0.8
SEARCH_RESULTS = 5  # memories or knowledge excerpts one search returns


def _unchanged(reason: str, error: str = "invalid_arguments") -> ToolResult:
    return ToolResult(False, f"Nothing changed: {reason}", error)


class _Builtin:
    """What every built-in holds: its spec, the database and the embedding model."""

    spec: ToolSpec

    def __init__(self, engine: AsyncEngine, embedder: Embedder) -> None:
        self._engine = engine
        self._embedder = embedder


class Remember(_Builtin):
    """Store a fact (`{"content"}`), or merge it into the memory that already says it."""

    spec = builtins.REMEMBER

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        content = arguments.get("content")
        if not isinstance(content, str):
            return _unchanged('remember needs {"content": "the fact"}.')
        try:
            async with self._engine.begin() as conn:
                stored = await memory.create(conn, self._embedder, content, source="agent")
        except errors.SomaError as exc:
            return _unchanged(exc.message)
        details = {"remembered": stored["id"]}
        if stored["merged"]:
            return ToolResult(True, f"Updated memory {stored['id']}, which said the same, to: {stored['content']}", details=details)
        return ToolResult(True, f"Remembered as memory {stored['id']}: {stored['content']}", details=details)


class Forget(_Builtin):
    """Delete a memory by id (`{"id"}`), or the one closest to a description (`{"content"}`) when it is close enough."""

    spec = builtins.FORGET

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        content, memory_id = arguments.get("content"), arguments.get("id")
        try:
            async with self._engine.begin() as conn:
                if isinstance(memory_id, int) and not isinstance(memory_id, bool):
                    gone = await memory.delete(conn, memory_id)
                elif isinstance(content, str):
                    found = await memory.search(conn, self._embedder, content, limit=1)
                    if not found or found[0]["similarity"] < FORGET_SIMILARITY:
                        return _unchanged(f"no memory is close to {content!r}.", "not_found")
                    gone = await memory.delete(conn, found[0]["id"])
                else:
                    return _unchanged('forget needs {"content": "the fact"} or {"id": the memory\'s id}.')
        except errors.SomaError as exc:
            return _unchanged(exc.message, "not_found" if isinstance(exc, errors.NotFound) else "invalid_arguments")
        return ToolResult(True, f"Forgot memory {gone['id']}: {gone['content']}", details={"forgotten": gone["id"]})


class _Search(_Builtin, abc.ABC):
    """A search by `{"query"}`: the query checked, then the results as lines of text."""

    async def run(self, arguments: dict[str, Any], context: CallContext | None = None) -> ToolResult:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return ToolResult(False, f'{self.spec.name} needs {{"query": "what to look for"}}.', "invalid_arguments")
        return ToolResult(True, await self._find(query))

    @abc.abstractmethod
    async def _find(self, query: str) -> str:
        """The results for a checked query, as the text the SLM reads."""


class SearchMemory(_Search):
    """The memories most like the query, best first, each with its id and similarity."""

    spec = builtins.SEARCH_MEMORY

    async def _find(self, query: str) -> str:
        async with self._engine.connect() as conn:
            found = await memory.search(conn, self._embedder, query, limit=SEARCH_RESULTS)
        if not found:
            return "Memory is empty."
        return "\n".join(f"- memory {m['id']} (similarity {m['similarity']:.2f}): {m['content']}" for m in found)


class SearchKnowledge(_Search):
    """The excerpts of ready knowledge files most like the query, best first, each naming its file."""

    spec = builtins.SEARCH_KNOWLEDGE

    async def _find(self, query: str) -> str:
        async with self._engine.connect() as conn:
            found = await knowledge.search(conn, self._embedder, query, SEARCH_RESULTS)
        if not found:
            return "No knowledge file is indexed."
        return "\n".join(f"[{n}] ({e['filename']}, part {e['ordinal'] + 1}) {e['content']}" for n, e in enumerate(found, 1))


def every(engine: AsyncEngine, embedder: Embedder) -> dict[str, Tool]:
    """Each built-in tool by its name, ready to run."""
    made: list[Tool] = [kind(engine, embedder) for kind in (Remember, Forget, SearchMemory, SearchKnowledge)]
    return {tool.spec.name: tool for tool in made}
