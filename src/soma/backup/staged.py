"""Staged restores: what one holds and how it differs from now (the preview), and discarding one."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables
from soma.knowledge import blobs, store
from soma.profiles import saved as saved_profiles
from soma.settings import store as settings_store
from soma.tools import saved as saved_tools

EXPIRE_AFTER = "24 hours"  # a restore staged and then forgotten stops holding its space after this

_r = tables.restores
# Owners kept on restore: only a user or key of this installation (docs/backup-format.md).
KNOWN_OWNERS = "SELECT 'user:' || id FROM users UNION ALL SELECT 'key:' || id FROM api_keys"
_UNMATCHED = sa.text(
    f"""
    SELECT count(*) FROM restore_segments s, json_to_recordset(s.records) AS r(owner text)
     WHERE s.restore_id = :restore_id AND s.kind = 'sessions'
       AND r.owner IS NOT NULL AND r.owner NOT IN ({KNOWN_OWNERS})
    """
)


async def get(conn: AsyncConnection, restore_id: uuid.UUID, lock: bool = False) -> Any:
    """The restore's row; RestoreNotFound when there is none. `lock` holds it until the transaction ends."""
    query = sa.select(_r).where(_r.c.id == restore_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise errors.RestoreNotFound(f"No restore has the id {restore_id}.")
    return row


async def recent(conn: AsyncConnection, limit: int) -> list[uuid.UUID]:
    """The ids of the newest restores."""
    return list((await conn.execute(sa.select(_r.c.id).order_by(_r.c.created_at.desc()).limit(limit))).scalars())


async def describe(conn: AsyncConnection, restore_id: uuid.UUID) -> dict[str, Any]:
    """The restore as the API shows it: its manifest, what it holds, and how applying it differs from now."""
    row = await get(conn, restore_id)
    staged = row.state == "staged"
    return {
        "id": str(row.id),
        "state": row.state,
        "filename": row.filename,
        "size_bytes": row.size_bytes,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "manifest": row.manifest,
        "counts": row.manifest["counts"],
        "settings_diff": (
            await settings_diff(conn, row.settings["data"], row.settings.get("tools"), row.settings.get("profiles")) if staged else []
        ),
        "owners_unmatched": (await conn.execute(_UNMATCHED, {"restore_id": row.id})).scalar_one() if staged else 0,
        "mode": row.mode,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "finished_by": row.finished_by,
    }


async def settings_diff(
    conn: AsyncConnection, backup: dict[str, Any], tools: dict[str, Any] | None = None, profiles: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Each setting whose value in the backup differs from the current one: key, current, backup.

    The tool servers and the agent profiles (when the backup has them) count as two more,
    `tool_servers` and `agent_profiles`, shown by name: an `overwrite` restore makes them the backup's.
    """
    current = (await settings_store.load(conn)).model_dump()
    restored = settings_store.AgentSettings.model_validate(backup).model_dump()
    found = [{"key": key, "current": current[key], "backup": restored[key]} for key in current if current[key] != restored[key]]
    if tools is not None:
        now = await saved_tools.read(conn)
        if saved_tools.differs(now, tools):
            names = [[server["name"] for server in side["servers"]] for side in (now, tools)]
            found.append({"key": "tool_servers", "current": names[0], "backup": names[1]})
    if profiles is not None:
        now_profiles = await saved_profiles.read(conn)
        if saved_profiles.differs(now_profiles, profiles):
            found.append({"key": "agent_profiles", "current": [p["name"] for p in now_profiles], "backup": [p["name"] for p in profiles]})
    return found


async def discard(conn: AsyncConnection, restore_id: uuid.UUID, actor: str) -> None:
    """Drop what a staged restore holds, keeping its row as a record; RestoreNotStaged when it is not staged."""
    row = await get(conn, restore_id, lock=True)
    if row.state != "staged":
        raise errors.RestoreNotStaged(f"The restore {restore_id} is {row.state}.")
    await finish(conn, restore_id, "discarded", actor)


async def finish(conn: AsyncConnection, restore_id: uuid.UUID, state: str, actor: str, mode: str | None = None) -> None:
    """Mark the restore applied or discarded and drop its staged data, with the bytes nothing else uses."""
    await conn.execute(sa.delete(tables.restore_segments).where(tables.restore_segments.c.restore_id == restore_id))
    await conn.execute(sa.delete(tables.restore_file_pieces).where(tables.restore_file_pieces.c.restore_id == restore_id))
    held = await conn.execute(sa.delete(tables.restore_blobs).where(tables.restore_blobs.c.restore_id == restore_id).returning(tables.restore_blobs.c.sha256))
    for sha256 in held.scalars().all():
        await _remove_unused(conn, sha256)
    values = {"state": state, "finished_at": sa.func.now(), "finished_by": actor, "mode": mode}
    await conn.execute(sa.update(_r).where(_r.c.id == restore_id).values(values))


async def _remove_unused(conn: AsyncConnection, sha256: str) -> None:
    await store.lock_content(conn, sha256)
    await blobs.remove_unreferenced(conn, sha256)


async def expire(conn: AsyncConnection) -> None:
    """Discard restores staged more than EXPIRE_AFTER ago."""
    old = sa.select(_r.c.id).where(_r.c.state == "staged", _r.c.created_at < sa.func.now() - sa.text(f"interval '{EXPIRE_AFTER}'"))
    for restore_id in (await conn.execute(old)).scalars().all():
        await finish(conn, restore_id, "discarded", "system:expired")

