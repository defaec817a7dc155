"""Migration 0010: the deltas of answers already stored leave the event log; everything else stays, ids unchanged."""

from __future__ import annotations

import json
import uuid

import psycopg

from tests.db.test_knowledge_blobs_migration import _alembic, _rows
from tests.db.test_migrate import _empty_database

ANSWERED, STREAMING, FAILED = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
LOGS = {
    ANSWERED: [  # a failed run, then the answer stored; then the next turn, still streaming
        "message.created", "turn.started", "assistant.delta", "turn.failed", "turn.started", "assistant.delta",
        "assistant.delta", "assistant.message", "message.created", "turn.started", "assistant.delta",
    ],
    STREAMING: ["message.created", "turn.started", "assistant.delta", "assistant.delta"],
    FAILED: ["message.created", "turn.started", "assistant.delta", "turn.failed"],
}  # fmt: skip


def test_the_deltas_before_a_sessions_last_answer_go_and_the_rest_keep_their_ids(postgres) -> None:
    url = _empty_database(postgres, "compact_deltas")
    _alembic(url, "upgrade", "0009")
    with psycopg.connect(url) as conn:
        for session_id, kinds in LOGS.items():
            conn.execute("INSERT INTO chat_sessions (id, title, last_event_id) VALUES (%s, 'Chat', %s)", (session_id, len(kinds)))
            for number, kind in enumerate(kinds, start=1):
                conn.execute(
                    "INSERT INTO session_events (session_id, id, type, data) VALUES (%s, %s, %s, %s)",
                    (session_id, number, kind, json.dumps({"reply_to": 1})),
                )

    _alembic(url, "upgrade", "0010")

    kept = _rows(url, "SELECT session_id, id, type FROM session_events ORDER BY session_id, id")
    assert kept == [
        (ANSWERED, 1, "message.created"), (ANSWERED, 2, "turn.started"), (ANSWERED, 4, "turn.failed"),
        (ANSWERED, 5, "turn.started"), (ANSWERED, 8, "assistant.message"), (ANSWERED, 9, "message.created"),
        (ANSWERED, 10, "turn.started"), (ANSWERED, 11, "assistant.delta"),
        *[(STREAMING, n, kind) for n, kind in enumerate(LOGS[STREAMING], start=1)],
        *[(FAILED, n, kind) for n, kind in enumerate(LOGS[FAILED], start=1)],
    ]  # fmt: skip
