"""Finding chats by the words of their titles and messages: PostgreSQL full-text search, best match first."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import sessions
from soma.db import tables

MAX_QUERY_CHARS = 200
MAX_TERMS = 16  # words of a query that count; more only slow the search down
TITLE_WEIGHT = 2.0  # a word in the title ranks a chat above the same word in one of its messages
_WORD = re.compile(r"[^\W_]+")  # letters and digits: never a character to_tsquery reads as an operator

_s, _m = tables.chat_sessions, tables.messages


def tsquery(text: str) -> str | None:
    """The query as to_tsquery text: every word, each also as a prefix (so "lisb" finds "Lisbon"); None without words."""
    terms = _WORD.findall(text)[:MAX_TERMS]
    return " & ".join(f"'{term}':*" for term in terms) or None


async def find(conn: AsyncConnection, text: str, limit: int = 100, owner: str | None = None) -> list[dict[str, Any]]:
    """Chats whose title or any message (current versions) holds every word of `text`, best match first; only `owner`'s when given."""
    terms = tsquery(text)
    if terms is None:
        return []
    query = sa.func.to_tsquery(tables.SEARCH_CONFIG, terms)
    in_titles = sa.select(_s.c.id.label("session_id"), (sa.func.ts_rank(tables.TITLE_WORDS, query) * TITLE_WEIGHT).label("rank"))
    in_messages = sa.select(_m.c.session_id, sa.func.ts_rank(tables.CONTENT_WORDS, query).label("rank"))
    hits = sa.union_all(
        in_titles.where(tables.TITLE_WORDS.bool_op("@@")(query)), in_messages.where(tables.CONTENT_WORDS.bool_op("@@")(query))
    ).subquery()
    best = sa.select(hits.c.session_id, sa.func.max(hits.c.rank).label("rank")).group_by(hits.c.session_id).subquery()
    found = (
        sa.select(*sessions.COLUMNS)
        .join(best, best.c.session_id == _s.c.id)
        .order_by(best.c.rank.desc(), _s.c.updated_at.desc())
        .limit(limit)
    )
    if owner is not None:
        found = found.where(_s.c.owner == owner)
    return [sessions.as_dict(row) for row in await conn.execute(found)]
