"""The agent profiles a backup holds: read for a backup, checked when one is staged, put back by an `overwrite` restore.

They travel in the backup's settings.json as `"profiles": [{name, description, system_prompt, model, tools,
max_tool_steps}]`, by name, and are settings-like: a `preserve_settings` restore keeps this installation's,
an `overwrite` one makes them the backup's. A backup made before profiles existed has `"profiles": null`
(soma.backup.upgrade), and any restore of it keeps this installation's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables
from soma.profiles import store

_t = tables.agent_profiles


async def read(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every profile as a backup keeps it, by name."""
    return [profile.model_dump() for profile in await store.list_all(conn)]


def fits(value: Any) -> bool:
    """Whether a backup's `profiles` has the shape read() writes (each profile is checked by `check`)."""
    return isinstance(value, list) and all(isinstance(entry, dict) for entry in value)


def check(value: list[dict[str, Any]]) -> list[store.Profile]:
    """The profiles, each accepted as an admin's POST would be, names unique; InvalidProfile otherwise."""
    profiles = [store.parse(entry) for entry in value]
    names = [profile.name for profile in profiles]
    if len(set(names)) != len(names):
        raise errors.InvalidProfile(f"The profiles {names} repeat a name.")
    return profiles


async def restore(conn: AsyncConnection, value: list[dict[str, Any]]) -> None:
    """Make the profiles the backup's (in the restore's transaction, after the scheduled tasks that name them were emptied)."""
    wanted = check(value)
    await conn.execute(sa.delete(_t))
    if wanted:
        await conn.execute(sa.insert(_t), [profile.model_dump() for profile in wanted])


def differs(current: list[dict[str, Any]], backup: list[dict[str, Any]]) -> bool:
    """Whether restoring the backup's profiles would change this installation's."""
    return current != [profile.model_dump() for profile in check(backup)]
