"""The agent_profiles table: read, list, create, change and delete profiles, each checked whole.

A profile refines the agent settings for the chats made with it: its `system_prompt` follows the
settings' own, and `model`, `tools` and `max_tool_steps` left None fall back to the settings.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables
from soma.settings import store as settings_store

DEFAULT = "assistant"  # a new chat's profile when none is asked for, while it exists
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # a profile's name: what the API's path and every body accept
_t = tables.agent_profiles


class Profile(BaseModel):
    """One profile as the API shows and takes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Lower-case letters, digits, - and _, at most 40; how chats, tasks and `delegate` name it.")
    description: str = Field("", max_length=2000, description="What it is for: the agent reads it when choosing whom to delegate to.")
    system_prompt: str = Field("", max_length=20000, description="Sent after the settings' system prompt on each of its chats' turns.")
    model: str | None = Field(None, max_length=200, description="SLM model name; empty uses the settings' model.")
    tools: list[str] | None = Field(None, max_length=200, description="The tools (function names) it may use; null: every enabled tool.")
    max_tool_steps: int | None = Field(None, ge=1, le=50, description="SLM requests per turn; empty uses the settings' max_tool_steps.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError("use 1-40 lower-case letters, digits, - or _, starting with a letter or digit")
        return value

    @field_validator("description", "system_prompt", "model")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value

    @field_validator("tools")
    @classmethod
    def _tools(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not name or len(name) > 64 or "\x00" in name for name in value):
            raise ValueError("each tool is a function name of 1-64 characters, as GET /v1/tools names them")
        return None if value is None else sorted(set(value))


_COLUMNS = (_t.c.name, _t.c.description, _t.c.system_prompt, _t.c.model, _t.c.tools, _t.c.max_tool_steps)


def parse(data: Any) -> Profile:
    """A profile from an API body, or InvalidProfile naming every bad field."""
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise errors.InvalidProfile(settings_store.problems(exc, "profile field", "profile")) from exc


def _of(row: Any) -> Profile:
    return Profile.model_validate(dict(row._mapping))


async def list_all(conn: AsyncConnection) -> list[Profile]:
    """Every profile, by name."""
    return [_of(r) for r in await conn.execute(sa.select(*_COLUMNS).order_by(_t.c.name))]


async def find(conn: AsyncConnection, name: str) -> Profile | None:
    """The named profile, or None."""
    row = (await conn.execute(sa.select(*_COLUMNS).where(_t.c.name == name))).one_or_none()
    return None if row is None else _of(row)


async def get(conn: AsyncConnection, name: str) -> Profile:
    """The named profile; ProfileNotFound when there is none."""
    found = await find(conn, name)
    if found is None:
        raise errors.ProfileNotFound(f"No agent profile is named {name!r}.")
    return found


async def create(conn: AsyncConnection, profile: Profile) -> Profile:
    """Add a profile; ProfileExists when the name is taken."""
    inserted = sa.dialects.postgresql.insert(_t).values(**profile.model_dump()).on_conflict_do_nothing().returning(_t.c.name)
    if (await conn.execute(inserted)).one_or_none() is None:
        raise errors.ProfileExists(f"An agent profile named {profile.name!r} exists already.")
    return profile


async def replace(conn: AsyncConnection, name: str, profile: Profile) -> Profile:
    """Change every field of the named profile but its name (which must match); ProfileNotFound when it does not exist."""
    if profile.name != name:
        raise errors.InvalidProfile(f"'name': a profile keeps its name ({name!r}); create a new one to use {profile.name!r}.")
    values = profile.model_dump(exclude={"name"}) | {"updated_at": sa.func.now()}
    if (await conn.execute(sa.update(_t).where(_t.c.name == name).values(**values).returning(_t.c.name))).one_or_none() is None:
        raise errors.ProfileNotFound(f"No agent profile is named {name!r}.")
    return profile


async def delete(conn: AsyncConnection, name: str) -> None:
    """Delete the named profile; ProfileInUse while a scheduled task runs with it. Chats made with it keep its name and fall back to the settings."""
    try:
        async with conn.begin_nested():
            deleted = (await conn.execute(sa.delete(_t).where(_t.c.name == name).returning(_t.c.name))).one_or_none()
    except IntegrityError:
        raise errors.ProfileInUse(f"Scheduled tasks run with the profile {name!r}.") from None
    if deleted is None:
        raise errors.ProfileNotFound(f"No agent profile is named {name!r}.")
