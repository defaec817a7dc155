"""Request bodies shared by several routers."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    return value


# Text that is stored: PostgreSQL cannot hold NUL in text, so it is refused here (422), not by the database (500).
Text = Annotated[str, AfterValidator(_no_nul)]


class TextBody(BaseModel):
    """A body of one non-blank `content` text and nothing else."""

    model_config = ConfigDict(extra="forbid")
    content: Text = Field(json_schema_extra={"pattern": r"\S"})  # documents _not_blank

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be empty")
        return value
