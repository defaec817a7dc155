"""Request bodies shared by several routers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator


class TextBody(BaseModel):
    """A body of one non-blank `content` text and nothing else."""

    model_config = ConfigDict(extra="forbid")
    content: str

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be empty")
        return value
