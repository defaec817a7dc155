"""What a turn knows beyond its history: recalled memories and knowledge excerpts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma.embeddings.embedder import Embedder
from soma.knowledge import store as knowledge
from soma.memory import store as memory
from soma.settings.store import AgentSettings


@dataclass
class TurnContext:
    """The memories and knowledge chunks one turn adds to its prompt."""

    memories: list[dict[str, Any]] = field(default_factory=list)
    excerpts: list[dict[str, Any]] = field(default_factory=list)


async def gather(conn: AsyncConnection, embedder: Embedder, agent: AgentSettings, question: str) -> TurnContext:
    """Recall memories and retrieve knowledge chunks similar to the question, as the settings allow."""
    use_memory = agent.memory_enabled and await memory.any_stored(conn)
    use_knowledge = agent.knowledge_k > 0 and await knowledge.any_ready(conn)
    if not (use_memory or use_knowledge):
        return TurnContext()  # nothing to search: spare the embedding
    [vector] = await embedder.embed([question])
    recalled = await memory.recall(conn, vector, agent.memory_recall_k, agent.memory_threshold) if use_memory else []
    excerpts = await knowledge.retrieve(conn, vector, agent.knowledge_k) if use_knowledge else []
    return TurnContext(memories=recalled, excerpts=excerpts)
