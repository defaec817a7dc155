"""The writes of a turn's two messages, each one statement: posting the question, storing the answer.

One statement is one round trip, and in autocommit its own durable transaction; done as separate
statements in a transaction, each took five or more. Each locks the session first, as every writer
of its events does (events.APPEND_SQL), and writes its event with it, carrying the message as
message_shape shows it, so the event's copy of the message is the API's.
"""

from __future__ import annotations

import sqlalchemy as sa

from soma.conversations import events, message_shape
from soma.db import jobs, restore_lock


# The row's `versions` with its content, meta and time appended: for an UPDATE that replaces them.
WITH_CURRENT_VERSION = "versions || jsonb_build_array(jsonb_build_object('content', content, 'meta', meta, 'created_at', created_at))"
# What a write returns: the message as it is shown, and its session (for the caller's checks).
RETURNING = f"RETURNING session_id, {message_shape.json_of()} AS message"

# Nothing is written while a restore applies (restore_lock.OPEN false), or when the session does not exist,
# is a subordinate chat (its one question came with it) or, with :owner, is someone else's (no message). A default title becomes the start of the
# first message.
POST = sa.text(
    f"""
    WITH gate AS (
        SELECT {restore_lock.OPEN} AS open
    ), chat AS (
        UPDATE chat_sessions
           SET last_event_id = last_event_id + 1, updated_at = now(),
               title = CASE WHEN last_event_id = 0 AND title = :default_title THEN :title ELSE title END
         WHERE id = :session_id AND (CAST(:owner AS text) IS NULL OR owner = CAST(:owner AS text))
           AND parent_session_id IS NULL AND (SELECT open FROM gate)
     RETURNING id, last_event_id
    ), message AS (
        INSERT INTO messages (session_id, role, content, meta) SELECT id, 'user', :content, CAST(:meta AS jsonb) FROM chat
     {RETURNING}
    ), event AS (
        INSERT INTO session_events (session_id, id, type, data)
        SELECT chat.id, chat.last_event_id, '{events.MESSAGE_CREATED}', jsonb_build_object('message', message.message)
          FROM chat, message
    ), job AS (
        SELECT {jobs.defer_one("CAST(:args AS jsonb) || jsonb_build_object('message_id', message.message->'id')")} AS id FROM message
    )
    SELECT gate.open AS gate_open, posted.* FROM gate LEFT JOIN (SELECT message.* FROM message, job) AS posted ON true
    """
)

# Storing an answer (`stored`, below): nothing when the session is gone or the answer was stored
# already (a turn run twice); else its deltas go, and its `assistant.message` comes.
_LOCK_CHAT = "chat AS (SELECT id FROM chat_sessions WHERE id = :session_id FOR UPDATE)"
_RECORD_ANSWER = f"""
    compacted AS (
        DELETE FROM session_events WHERE {events.DELTAS_BEFORE_ANSWER} AND EXISTS (SELECT FROM stored)
    ), counted AS (
        UPDATE chat_sessions SET last_event_id = last_event_id + 1, updated_at = now()
         WHERE id = :session_id AND EXISTS (SELECT FROM stored)
     RETURNING id, last_event_id
    ), event AS (
        INSERT INTO session_events (session_id, id, type, data)
        SELECT counted.id, counted.last_event_id, '{events.ASSISTANT_MESSAGE}', jsonb_build_object('message', stored.message)
          FROM counted, stored
    )
    SELECT stored.* FROM stored
    """

# The first answer to user message :reply_to.
STORE_FIRST = sa.text(
    f"""
    WITH {_LOCK_CHAT}, stored AS (
        INSERT INTO messages (session_id, role, content, reply_to, meta)
        SELECT id, 'assistant', :content, :reply_to, CAST(:meta AS jsonb) FROM chat
            ON CONFLICT (reply_to) DO NOTHING
     {RETURNING}
    ), {_RECORD_ANSWER}
    """
)

# A later one, replacing the answer that has :earlier earlier versions and keeping it among them.
STORE_AGAIN = sa.text(
    f"""
    WITH {_LOCK_CHAT}, stored AS (
        UPDATE messages SET versions = {WITH_CURRENT_VERSION}, content = :content, meta = CAST(:meta AS jsonb), created_at = now()
         WHERE reply_to = :reply_to AND jsonb_array_length(versions) = :earlier AND EXISTS (SELECT FROM chat)
     {RETURNING}
    ), {_RECORD_ANSWER}
    """
)
