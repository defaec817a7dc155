"""The agent's settings: one typed model, stored as one versioned row; a change applies from the next turn."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables

DEFAULT_SYSTEM_PROMPT = "You are Soma, a helpful assistant. Answer clearly and concisely."
MiB = 1024 * 1024


class AgentSettings(BaseModel):
    """What shapes the agent's answers. Secrets never live here: they come from SOMA_* and Vault."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, max_length=20000, description="Sent first on every turn.")
    slm_model: str | None = Field(None, max_length=200, description="Model name; empty uses SOMA_SLM_MODEL.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature; empty uses the SLM's default.")
    memory_enabled: bool = Field(True, description="Recall memories into each turn and let the agent store new ones.")
    memory_recall_k: int = Field(5, ge=1, le=50, description="At most this many memories per turn.")
    memory_threshold: float = Field(0.35, ge=0, le=1, description="Least cosine similarity for a memory to be recalled.")
    knowledge_k: int = Field(4, ge=0, le=20, description="Knowledge chunks added to each turn (0: none).")
    upload_max_bytes: int = Field(20 * MiB, ge=1, le=1024 * MiB, description="Largest knowledge file accepted.")
    tools_enabled: bool = Field(True, description="Offer tools (the built-ins and the MCP servers' tools) to the SLM.")
    max_tool_steps: int = Field(
        10, ge=1, le=50, description="SLM requests per turn, each answering or asking for tools; the last offers none, so every turn answers."
    )
    tool_call_format: Literal["native", "json", "off"] = Field(
        "native",
        description="How the SLM asks for tools: native (OpenAI tool calls), json (one JSON object in its text, for models without tool calls) or off.",
    )
    tool_approval_timeout_seconds: int = Field(
        300, ge=1, le=86400, description="How long a tool set to ask waits for the user to allow it; then it counts as denied."
    )
    code_execution: Literal["on", "off"] = Field(
        "on", description="Offer the run_code tool (Python and shell in the sandbox service); off when the sandbox cannot start, whatever this says."
    )
    sandbox_network: Literal["none", "egress"] = Field("none", description="What a sandboxed run may reach: none, or the outside network (egress).")
    sandbox_timeout_seconds: int = Field(60, ge=1, le=3600, description="Wall-clock limit of one run_code run; then it is killed.")
    sandbox_memory_mb: int = Field(512, ge=64, le=16384, description="Memory limit of one run_code run, in MiB.")
    workspace_max_mb: int = Field(100, ge=1, le=512, description="Most a chat's files (its workspace) may hold, in MiB.")
    delegation_max_depth: int = Field(
        3, ge=0, le=10, description="How many levels of subordinate agents the delegate tool may start below a chat (0: no delegation)."
    )

    @field_validator("system_prompt", "slm_model")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL's jsonb cannot hold NUL: an invalid setting (422), not a failed update (500).
        if value is not None and "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value


_t = tables.agent_settings


async def load(conn: AsyncConnection) -> AgentSettings:
    """The current settings, with defaults for anything never set."""
    data = (await conn.execute(sa.select(_t.c.data))).scalar_one_or_none() or {}
    return AgentSettings.model_validate(data)


async def describe(conn: AsyncConnection) -> dict[str, Any]:
    """The settings with their version and last change, as the API shows them."""
    row = (await conn.execute(sa.select(_t.c.data, _t.c.version, _t.c.updated_at))).one()
    return _document(AgentSettings.model_validate(row.data), row.version, row.updated_at)


async def update(conn: AsyncConnection, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply a partial update, all or nothing; InvalidSettings names every bad key or value."""
    row = (await conn.execute(sa.select(_t.c.data).with_for_update())).one()
    try:
        merged = AgentSettings.model_validate({**row.data, **changes})
    except ValidationError as exc:
        raise errors.InvalidSettings(problems(exc)) from exc
    stored = merged.model_dump(exclude_defaults=False)
    result = (
        await conn.execute(
            sa.update(_t).values(data=stored, version=_t.c.version + 1, updated_at=sa.func.now()).returning(_t.c.version, _t.c.updated_at)
        )
    ).one()
    return _document(merged, result.version, result.updated_at)


def _document(settings: AgentSettings, version: int, updated_at: datetime) -> dict[str, Any]:
    return {"settings": settings.model_dump(), "version": version, "updated_at": updated_at.isoformat()}


def problems(exc: ValidationError, field: str = "setting", whole: str = "settings") -> str:
    """Every problem pydantic found, quoting the key and the value: `'colour' is not a setting; 'temperature': …`."""
    parts = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or whole
        if error["type"] == "extra_forbidden":
            parts.append(f"'{key}' is not a {field}")
        else:
            parts.append(f"'{key}': {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts) + "."
