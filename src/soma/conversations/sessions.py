"""Chat sessions: create, list, find, rename, delete."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.conversations import events, queue
from soma.db import tables
from soma.profiles import store as profiles

DEFAULT_TITLE = "New chat"
TITLE_CHARS = 50  # a title derived from the first message is cut at a word boundary before this
MAX_TITLE_CHARS = 200  # what a title set by hand may hold

_t = tables.chat_sessions
_p = tables.agent_profiles
COLUMNS = (
    _t.c.id, _t.c.title, _t.c.created_at, _t.c.updated_at, _t.c.last_event_id, _t.c.profile, _t.c.parent_session_id, _t.c.depth,
)  # as as_dict shows them


def as_dict(row: Any) -> dict[str, Any]:
    """A session as the API shows it."""
    return {
        "id": str(row.id),
        "title": row.title,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "last_event_id": row.last_event_id,
        "profile": row.profile,
        "parent_session_id": None if row.parent_session_id is None else str(row.parent_session_id),
        "depth": row.depth,
    }


async def create(conn: AsyncConnection, title: str | None, owner: str | None = None, profile: str | None = None) -> dict[str, Any]:
    """A new, empty top chat belonging to `owner`, run with `profile`; UnknownProfile when no profile has that name.

    Without `profile` it gets profiles.DEFAULT while that exists, else none (the settings alone). The
    profile is looked up inside the INSERT: one round trip.
    """
    wanted = profiles.DEFAULT if profile is None else profile
    existing = sa.select(_p.c.name).where(_p.c.name == wanted).scalar_subquery()
    inserted = sa.insert(_t).values(title=title or DEFAULT_TITLE, owner=owner, profile=existing).returning(*COLUMNS)
    row = (await conn.execute(inserted)).one()
    if profile is not None and row.profile is None:
        raise errors.UnknownProfile(f"'profile': no agent profile is named {profile!r}.")  # the caller's transaction rolls the chat back
    return as_dict(row)


async def list_recent(conn: AsyncConnection, limit: int = 100, owner: str | None = None) -> list[dict[str, Any]]:
    """Top chats (a subordinate chat shows under its parent's step, not in the list), most recently active first; only `owner`'s when given."""
    query = sa.select(*COLUMNS).where(_t.c.parent_session_id.is_(None)).order_by(_t.c.updated_at.desc()).limit(limit)
    if owner is not None:
        query = query.where(_t.c.owner == owner)
    return [as_dict(r) for r in await conn.execute(query)]


async def get(conn: AsyncConnection, session_id: uuid.UUID, *, lock: bool = False, owner: str | None = None) -> dict[str, Any]:
    """One session; SessionNotFound when it does not exist or, with `owner`, belongs to someone else.

    Someone else's chat is "not found" rather than "forbidden", so ids cannot be probed.
    """
    query = sa.select(*COLUMNS).where(_t.c.id == session_id)
    if owner is not None:
        query = query.where(_t.c.owner == owner)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise not_found(session_id)
    return as_dict(row)


def writable(session: dict[str, Any]) -> dict[str, Any]:
    """The session, when its turns are its own; SubordinateChat for a `delegate` call's chat, whose one turn runs inside its parent's."""
    if session["parent_session_id"] is not None:
        raise errors.SubordinateChat(f"Chat '{session['id']}' was made by a `delegate` call of chat '{session['parent_session_id']}'.")
    return session


def not_found(session_id: uuid.UUID) -> errors.SessionNotFound:
    """The error for a session that does not exist, or is someone else's (so ids cannot be probed)."""
    return errors.SessionNotFound(f"Session '{session_id}' does not exist.")


async def touch(conn: AsyncConnection, session_id: uuid.UUID, first_message: str | None = None) -> None:
    """Mark the session active; a default title becomes the start of its first message."""
    values: dict[str, Any] = {"updated_at": sa.func.now()}
    if first_message is not None:
        values["title"] = sa.case(
            (_t.c.title == DEFAULT_TITLE, title_from(first_message)), else_=_t.c.title
        )
    await conn.execute(sa.update(_t).where(_t.c.id == session_id).values(**values))


async def rename(conn: AsyncConnection, session_id: uuid.UUID, title: str, owner: str | None = None) -> dict[str, Any]:
    """Give the session a title (already trimmed, 1 to MAX_TITLE_CHARS characters); open streams get `session.updated`."""
    before = await get(conn, session_id, lock=True, owner=owner)
    await conn.execute(sa.update(_t).where(_t.c.id == session_id).values(title=title))
    # The lock makes the event's id last_event_id + 1, so the event can carry the session as it leaves it.
    session = {**before, "title": title, "last_event_id": before["last_event_id"] + 1}
    await events.append(conn, session_id, events.SESSION_UPDATED, {"session": session})
    return session


async def delete(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> dict[str, Any]:
    """Delete the session with its messages and events (by cascade) and its queued turns; returns it as it was.

    A turn running for it notices within stops.POLL_SECONDS, closes its SLM request and stores nothing.
    """
    session = await get(conn, session_id, lock=True, owner=owner)
    for job in await queue.unfinished(conn, session_id):
        await queue.remove(conn, job)
    await conn.execute(sa.delete(_t).where(_t.c.id == session_id))
    return session


def title_from(text: str) -> str:
    """A short, readable title: the first non-blank line, whitespace collapsed, cut at a word boundary with "…"."""
    line = " ".join(next((line for line in text.splitlines() if line.strip()), "").split())
    if len(line) <= TITLE_CHARS:
        return line or DEFAULT_TITLE
    cut = line[: TITLE_CHARS - 1]
    if " " in cut and line[TITLE_CHARS - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]  # a word longer than the whole title is cut where it must be
    return cut.rstrip(" ,;:.-") + "…"
