"""Reading the agent's settings row; a change applies from the next turn."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.db import tables

DEFAULT_SYSTEM_PROMPT = "You are Soma, a helpful assistant. Answer clearly and concisely."


class AgentSettings(BaseModel):
    """What shapes the agent's answers. Secrets never live here."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, max_length=20000)


async def load(conn: AsyncConnection) -> AgentSettings:
    """The current settings, with defaults for anything never set."""
    data = (await conn.execute(sa.select(tables.agent_settings.c.data))).scalar_one_or_none() or {}
    return AgentSettings.model_validate(data)
