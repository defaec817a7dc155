"""What a turn knows beyond its history: recalled memories and knowledge excerpts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.conversations.question import Question
from soma.embeddings.embedder import Embedder
from soma.knowledge import store as knowledge
from soma.memory import store as memory

log = logging.getLogger(__name__)


@dataclass
class TurnContext:
    """The memories and knowledge chunks one turn adds to its prompt."""

    memories: list[dict[str, Any]] = field(default_factory=list)
    excerpts: list[dict[str, Any]] = field(default_factory=list)


async def gather(conn: AsyncConnection, embedder: Embedder, asked: Question, stored_by_turn: frozenset[int] = frozenset()) -> TurnContext:
    """Recall memories and retrieve knowledge chunks similar to the question, as the settings allow.

    `stored_by_turn` are memories an earlier run of this turn stored (a resumed turn): they are
    not recalled, so its prompt is what it was when the turn began; its tool results say them.
    """
    agent = asked.agent
    use_memory = agent.memory_enabled and asked.memories_stored
    use_knowledge = agent.knowledge_k > 0 and asked.documents_ready
    if not (use_memory or use_knowledge):
        return TurnContext()  # nothing to search: spare the embedding
    [vector] = await embedder.embed([asked.message["content"]])
    recalled = []
    if use_memory:
        k = agent.memory_recall_k
        found = await memory.recall(conn, vector, k + len(stored_by_turn), agent.memory_threshold)
        recalled = [m for m in found if m["id"] not in stored_by_turn][:k]
    excerpts = await knowledge.retrieve(conn, vector, agent.knowledge_k) if use_knowledge else []
    return TurnContext(memories=recalled, excerpts=excerpts)


async def warm_if_needed(engine: AsyncEngine, embedder: Embedder) -> None:
    """Load the embedding model when there is anything to search, so the first turn needing it does not wait.

    Run it as a background task: a failure here only costs that first turn the wait.
    """
    try:
        async with engine.connect() as conn:
            needed = await memory.any_stored(conn) or await knowledge.any_ready(conn)
        if needed:
            await embedder.warm()
    except Exception as exc:
        log.warning("could not preload the embedding model: %s", exc)
