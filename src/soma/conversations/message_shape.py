"""How a message is shown, by the API and in the event log: one JSON object built by PostgreSQL.

This is the message's only declaration. Every read and every write of a message selects or returns
`json_of()` over its `messages` row, so the copy an event carries and the one the API answers are
the same by construction, and a field is added in one place.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


# A colon as sa.text needs it (else it reads a bind parameter); a literal column takes it plain.
TEXT_COLON = "\\:"


def iso(time: str, colon: str = TEXT_COLON) -> str:
    """SQL writing timestamptz `time` as datetime.isoformat() does, in the session's time zone as psycopg reads it.

    Microseconds appear only when not zero, as Python writes them.
    """
    return (
        f"to_char({time}, 'YYYY-MM-DD\"T\"HH24{colon}MI{colon}SS')"
        f" || CASE WHEN to_char({time}, 'US') = '000000' THEN '' ELSE to_char({time}, '.US') END"
        f" || to_char({time}, 'TZH{colon}TZM')"
    )


def json_of(row: str = "", colon: str = TEXT_COLON) -> str:
    """SQL for the message in row alias `row` (none: the only table in scope, as in RETURNING).

    `citations` and `stopped` (an answer cut short by POST /v1/sessions/{id}/stop) come out of
    `meta`; `versions` is what it said before it was regenerated or edited, oldest first, each with
    its time written as the message's own.
    """
    c = f"{row}." if row else ""
    versions = f"""(SELECT coalesce(jsonb_agg(v || jsonb_build_object('created_at', {iso("CAST(v->>'created_at' AS timestamptz)", colon)}) ORDER BY n), '[]')
                      FROM jsonb_array_elements({c}versions) WITH ORDINALITY AS earlier(v, n))"""
    return f"""jsonb_build_object(
        'id', {c}id, 'session_id', {c}session_id, 'role', {c}role, 'content', {c}content, 'reply_to', {c}reply_to,
        'meta', {c}meta, 'citations', coalesce({c}meta->'citations', '[]'), 'stopped', coalesce({c}meta->'stopped', 'false'),
        'versions', {versions}, 'created_at', {iso(f"{c}created_at", colon)})"""


def column() -> sa.ColumnElement[Any]:
    """The message as a column labelled `message`, for SQLAlchemy selects and RETURNING clauses on `messages`."""
    return sa.literal_column(json_of(colon=":")).label("message")
