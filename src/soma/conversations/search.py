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
TITLE_HIT = 10.0  # a title match, times 1 + its ts_rank: above any chat matched in fewer than 1,000 messages
MESSAGE_HIT = 0.01  # what each matching message adds to its chat's rank
_WORD = re.compile(r"[^\W_]+")  # letters and digits: never a character to_tsquery reads as an operator

_s, _m = tables.chat_sessions, tables.messages


def tsquery(text: str) -> str | None:
    """The query as to_tsquery text: every word, each also as a prefix (so "lisb" finds "Lisbon"); None without words."""
    terms = _WORD.findall(text)[:MAX_TERMS]
    return " & ".join(f"'{term}':*" for term in terms) or None


async def find(conn: AsyncConnection, text: str, limit: int = 100, owner: str | None = None) -> list[dict[str, Any]]:
    """Chats whose title or any message (current versions) holds every word of `text`, best match first; only `owner`'s when given.

    A title match ranks by ts_rank; each matching message adds MESSAGE_HIT, counted from the index
    alone: ranking messages by ts_rank would compute every matching message's words again, which
    for a common word ("the", or the "t" typed first) is every message.
    """
    terms = tsquery(text)
    if terms is None:
        return []
    query = sa.func.to_tsquery(tables.SEARCH_CONFIG, terms)
    mine = [_s.c.owner == owner] if owner is not None else []
    in_titles = sa.select(_s.c.id.label("session_id"), (TITLE_HIT * (1 + sa.func.ts_rank(tables.TITLE_WORDS, query))).label("rank"))
    in_messages = sa.select(_m.c.session_id, sa.literal(MESSAGE_HIT).label("rank"))
    if mine:  # before ranking: a member's search reads only their own chats' messages
        in_messages = in_messages.join(_s, _s.c.id == _m.c.session_id)
    hits = sa.union_all(
        in_titles.where(tables.TITLE_WORDS.bool_op("@@")(query), *mine),
        in_messages.where(tables.CONTENT_WORDS.bool_op("@@")(query), *mine),
    ).subquery()
    best = sa.select(hits.c.session_id, sa.func.sum(hits.c.rank).label("rank")).group_by(hits.c.session_id).subquery()
    found = (
        sa.select(*sessions.COLUMNS)
        .join(best, best.c.session_id == _s.c.id)
        .where(_s.c.parent_session_id.is_(None))  # as the chat list: subordinate chats show under their parent's step
        .order_by(best.c.rank.desc(), _s.c.updated_at.desc())
        .limit(limit)
    )
    # For a word in most messages the planner would rather read every message and compute its words
    # (seconds at 100k messages) than read the index, where they are computed already.
    await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
    return [sessions.as_dict(row) for row in await conn.execute(found)]
