"""The agent's memories."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class MemoryNotFound(NotFound):
    """No memory has this id. List memories with GET /v1/memories, or search them with GET /v1/memories?query=…."""


class MemoryTooLarge(SomaError):
    """A memory holds at most 4000 characters. Store a shorter fact, or split it into several memories."""

    status_code = 413
    code = "memory_too_large"


class InvalidMemory(SomaError):
    """The memory request is not valid. Send {"content": "the fact"} with some text; search with ?query=…, which returns one page."""

    status_code = 422
    code = "invalid_memory"
