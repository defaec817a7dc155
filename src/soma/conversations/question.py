"""What a turn starts from, read in one statement: the question, its answers so far, the settings, the history, what can be searched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import message_shape
from soma.settings.store import AgentSettings


@dataclass(frozen=True)
class Question:
    """A user message about to be answered, and what its turn needs to know before calling the SLM."""

    message: dict[str, Any]  # as message_shape shows it
    answers: int  # 0, or 1 plus the earlier versions of its answer (messages.answers)
    agent: AgentSettings
    history: list[dict[str, str]]  # role and content of the conversation up to the question, oldest first
    memories_stored: bool  # at least one memory exists
    documents_ready: bool  # at least one knowledge document is indexed


async def read(conn: AsyncConnection, message_id: int, history_messages: int) -> Question | None:
    """The question and its context, or None when the message is gone (its session was deleted).

    One round trip instead of five: this is the time between a worker taking the turn and asking the SLM.
    """
    row = (await conn.execute(_READ, {"message_id": message_id, "history": history_messages})).one_or_none()
    if row is None:
        return None
    agent = AgentSettings.model_validate(row.settings or {})
    return Question(row.message, row.answers, agent, row.history, row.memories_stored, row.documents_ready)


# The history is the last :history messages in conversation order, which puts each answer right
# after its question even when the next question came before it; the question's own answer (one
# being written again) is left out.
_READ = sa.text(
    f"""
    SELECT {message_shape.json_of("asked")} AS message,
           coalesce((SELECT jsonb_array_length(versions) + 1 FROM messages WHERE reply_to = asked.id), 0) AS answers,
           (SELECT data FROM agent_settings) AS settings,
           EXISTS (SELECT FROM memories) AS memories_stored,
           EXISTS (SELECT FROM knowledge_documents WHERE state = 'ready') AS documents_ready,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('role', role, 'content', content) ORDER BY turn, role DESC), '[]')
              FROM (SELECT role, content, coalesce(reply_to, id) AS turn
                      FROM messages
                     WHERE session_id = asked.session_id AND (coalesce(reply_to, id) < asked.id OR id = asked.id)
                     ORDER BY turn DESC, role
                     LIMIT :history) AS recent) AS history
      FROM messages AS asked
     WHERE asked.id = :message_id
    """
)
