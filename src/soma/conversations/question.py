"""What a turn starts from, read in one statement: the question, its answers so far, the settings and the chat's profile, the history, what can be searched, the tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import events, message_shape
from soma.profiles.store import Profile
from soma.settings.store import AgentSettings


@dataclass(frozen=True)
class Question:
    """A user message about to be answered, and what its turn needs to know before calling the SLM."""

    message: dict[str, Any]  # as message_shape shows it
    answers: int  # 0, or 1 plus the earlier versions of its answer (messages.answers)
    agent: AgentSettings
    history: list[dict[str, Any]]  # role, content and files (meta.attachments, or None) of the conversation up to the question, oldest first
    memories_stored: bool  # at least one memory exists
    documents_ready: bool  # at least one knowledge document is indexed
    tool_choices: list[dict[str, Any]]  # the rows of tool_settings: {server, tool, enabled, approval}
    recorded: list[dict[str, Any]]  # tool events ({type, data}, oldest first) of earlier runs of this turn: steps.recorded
    profile: Profile | None = None  # the chat's agent profile; None: the chat has none, or it was deleted (the settings alone)
    depth: int = 0  # how far below its top chat the question's chat is (a subordinate chat's: 1 or more)
    profiles: list[dict[str, Any]] = field(default_factory=list)  # {name, description} of each agent profile, by name: whom it may delegate to


async def read(conn: AsyncConnection, message_id: int, history_messages: int, generation: int = 1) -> Question | None:
    """The question and its context for its `generation`-th answer, or None when the message is gone (its session was deleted).

    One round trip instead of seven: this is the time between a worker taking the turn and asking the SLM.
    """
    params = {"message_id": message_id, "history": history_messages, "generation": generation}
    row = (await conn.execute(_READ, params)).one_or_none()
    if row is None:
        return None
    agent = AgentSettings.model_validate(row.settings or {})
    profile = None if row.profile is None else Profile.model_validate(row.profile)
    return Question(
        row.message, row.answers, agent, row.history, row.memories_stored, row.documents_ready, row.tool_choices, row.recorded,
        profile, row.depth, row.profiles,
    )  # fmt: skip


# The history is the last :history messages in conversation order, which puts each answer right
# after its question even when the next question came before it; the question's own answer (one
# being written again) is left out. A turn's tool events come after the chat's last answer (a
# session's turns run one at a time), so looking for those of a run that died costs a backward scan
# of the primary key to that answer: the few events of this turn, nothing on a normal turn's start.
# The chat's profile is a LEFT JOIN: a chat whose profile was deleted runs on the settings alone.
_READ = sa.text(
    f"""
    SELECT {message_shape.json_of("asked")} AS message,
           coalesce((SELECT jsonb_array_length(versions) + 1 FROM messages WHERE reply_to = asked.id), 0) AS answers,
           (SELECT data FROM agent_settings) AS settings,
           CASE WHEN profile.name IS NOT NULL THEN jsonb_build_object(
                'name', profile.name, 'description', profile.description, 'system_prompt', profile.system_prompt,
                'model', profile.model, 'tools', profile.tools, 'max_tool_steps', profile.max_tool_steps) END AS profile,
           EXISTS (SELECT FROM memories) AS memories_stored,
           EXISTS (SELECT FROM knowledge_documents WHERE state = 'ready') AS documents_ready,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('role', role, 'content', content, 'files', files) ORDER BY turn, role DESC), '[]')
              FROM (SELECT role, content, meta->'attachments' AS files, coalesce(reply_to, id) AS turn
                      FROM messages
                     WHERE session_id = asked.session_id AND (coalesce(reply_to, id) < asked.id OR id = asked.id)
                     ORDER BY turn DESC, role
                     LIMIT :history) AS recent) AS history,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('server', server, 'tool', tool, 'enabled', enabled, 'approval', approval)), '[]')
              FROM tool_settings) AS tool_choices,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('type', type, 'data', data) ORDER BY id), '[]')
              FROM session_events
             WHERE session_id = asked.session_id
               AND id > coalesce((SELECT max(id) FROM session_events
                                   WHERE session_id = asked.session_id AND type = '{events.ASSISTANT_MESSAGE}'), 0)
               AND type IN ('{events.TOOL_APPROVAL}', '{events.TOOL_STARTED}', '{events.TOOL_FINISHED}')
               AND data->'reply_to' = to_jsonb(asked.id) AND data->'generation' = to_jsonb(CAST(:generation AS integer))) AS recorded,
           (SELECT depth FROM chat_sessions WHERE id = asked.session_id) AS depth,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'description', description) ORDER BY name), '[]')
              FROM agent_profiles) AS profiles
      FROM messages AS asked
      JOIN chat_sessions AS chat ON chat.id = asked.session_id
      LEFT JOIN agent_profiles AS profile ON profile.name = chat.profile
     WHERE asked.id = :message_id
    """
)
