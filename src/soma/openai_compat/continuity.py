"""Which chat an OpenAI request continues: the one whose stored messages are the request's history.

OpenAI clients send the whole conversation every time. The request's last user message becomes a
turn; the messages before it must already be a chat of the caller's, or they start a new one,
stored as its earlier messages without turns of their own (they were answered elsewhere).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.conversations import events, messages, sessions
from soma.db import tables

IMPORTED = {"imported_from": "openai-api"}  # the meta of earlier messages a client sent that Soma never had
ROLES = ("user", "assistant")  # what a chat stores; system and developer messages give way to the agent's own prompt
IGNORED_ROLES = ("system", "developer")
CANDIDATES = 20  # chats compared in full per request: the latest message alone seldom matches more than one

_m = tables.messages
_s = tables.chat_sessions


@dataclass(frozen=True)
class Said:
    """One message of the conversation as a chat stores it."""

    role: str
    content: str


@dataclass(frozen=True)
class Posted:
    """The request's question stored with its turn: its chat, the message, and the event it was announced by."""

    session_id: uuid.UUID
    message: dict[str, Any]
    event_id: int
    new_session: bool


def conversation(request_messages: list[tuple[str, Any]]) -> list[Said]:
    """The user and assistant messages of a request, as text; ChatRequestInvalid when it does not end with a question."""
    said = [Said(role, _text(role, content, n)) for n, (role, content) in enumerate(request_messages) if role not in IGNORED_ROLES]
    if not said or said[-1].role != "user" or not said[-1].content.strip():
        raise errors.ChatRequestInvalid("The last message that is not a system message must be a user message with text.")
    return said


def _text(role: str, content: Any, n: int) -> str:
    if role not in ROLES:
        raise errors.ChatRequestInvalid(f"messages[{n}] has role {role!r}; the agent takes system, developer, user and assistant messages.")
    if content is None:
        return ""
    if isinstance(content, str):
        text = content
    else:
        parts = [part.get("text") if isinstance(part, dict) and part.get("type") == "text" else None for part in content]
        if any(not isinstance(part, str) for part in parts):
            raise errors.ChatRequestInvalid(f"messages[{n}] has a part that is not text; Soma's agent reads text only.")
        text = "\n".join(parts)
    if "\x00" in text:
        raise errors.ChatRequestInvalid(f"messages[{n}] contains a NUL (\\u0000) character, which cannot be stored.")
    return text


async def post(conn: AsyncConnection, said: list[Said], owner: str, session_id: uuid.UUID | None = None) -> Posted:
    """Store the last message as a question with its turn, in the chat it continues (or `session_id`), else in a new chat.

    `owner` is the caller's: only their own chats are continued, and a new one is theirs. A given
    `session_id` is the caller's to check (an admin may continue anyone's chat, as with the session API).
    """
    *earlier, question = said
    new_session = False
    if session_id is None:
        session_id = await find(conn, earlier, owner)
    if session_id is None:
        session_id, new_session = await start(conn, earlier, owner), True
    message = await messages.post_user_message(conn, session_id, question.content)
    # The session row is locked until commit: its counter is the id of the event that announced the message.
    event_id = (await conn.execute(sa.select(_s.c.last_event_id).where(_s.c.id == session_id))).scalar_one()
    return Posted(session_id, message, event_id, new_session)


async def find(conn: AsyncConnection, earlier: list[Said], owner: str) -> uuid.UUID | None:
    """The caller's most recently active top chat whose messages are exactly `earlier`, or None (always None for no history)."""
    if not earlier:
        return None  # a first message starts a chat, even when an earlier chat began with the same words
    last = earlier[-1]
    query = (
        sa.select(_m.c.session_id)
        .join(_s, _s.c.id == _m.c.session_id)
        .where(_m.c.content == last.content, _m.c.role == last.role, _s.c.owner == owner)  # messages_content_hash
        .where(_s.c.parent_session_id.is_(None))  # a subordinate chat takes no message of its own
        .group_by(_m.c.session_id, _s.c.updated_at)
        .order_by(_s.c.updated_at.desc())
        .limit(CANDIDATES)
    )
    for session_id in (await conn.execute(query)).scalars():
        if await stored(conn, session_id) == earlier:
            return session_id
    return None


async def stored(conn: AsyncConnection, session_id: uuid.UUID) -> list[Said]:
    """A chat's messages in conversation order: each answer right after its question (as turns send them to the SLM)."""
    turn = sa.func.coalesce(_m.c.reply_to, _m.c.id)
    rows = await conn.execute(
        sa.select(_m.c.role, _m.c.content).where(_m.c.session_id == session_id).order_by(turn, _m.c.role.desc())
    )
    return [Said(row.role, row.content) for row in rows]


async def start(conn: AsyncConnection, earlier: list[Said], owner: str) -> uuid.UUID:
    """A new chat of the caller's holding `earlier` as answered history: their events, but no turns."""
    session_id = uuid.UUID((await sessions.create(conn, None, owner))["id"])
    question: int | None = None
    for said in earlier:
        reply_to = question if said.role == "assistant" else None
        values = {"session_id": session_id, "role": said.role, "content": said.content, "reply_to": reply_to, "meta": IMPORTED}
        message_id = (await conn.execute(sa.insert(_m).values(**values).returning(_m.c.id))).scalar_one()
        kind = events.MESSAGE_CREATED if said.role == "user" else events.ASSISTANT_MESSAGE
        await events.append(conn, session_id, kind, {"message": await messages.get(conn, message_id)})
        question = message_id if said.role == "user" else None  # an answer answers one question
    if earlier:
        await sessions.touch(conn, session_id, next((s.content for s in earlier if s.role == "user"), None))
    return session_id
