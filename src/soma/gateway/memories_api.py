"""/v1/memories: what the agent remembers — store, list, search, change and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from soma import errors
from soma.gateway import access, bodies, params
from soma.memory import store

router = APIRouter(prefix="/v1/memories", tags=["memories"])


class MemoryBody(bodies.TextBody):
    """Body of POST /v1/memories and PATCH /v1/memories/{id}; over store.MAX_CHARS is 413."""


MERGED = {
    200: {
        "description": "The fact restated an existing memory, which now holds it: that memory, with `merged: true`.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post("", status_code=201, response_model=None, dependencies=[Depends(access.require_admin)], responses=MERGED)
async def create_memory(request: Request, body: MemoryBody) -> dict[str, Any] | JSONResponse:
    """Store a memory: 201, or 200 with `merged: true` when it restated an existing one, which now holds it."""
    async with request.app.state.engine.begin() as conn:
        memory = await store.create(conn, request.app.state.embedder, body.content, source="user")
    return JSONResponse(memory, status_code=200) if memory["merged"] else memory


@router.get("")
async def list_memories(
    request: Request,
    query: str | None = Query(None, max_length=store.MAX_CHARS, description="Search by meaning; one page, best first."),
    limit: int = Query(store.DEFAULT_PAGE, ge=1, le=store.MAX_PAGE),
    before: params.RowId | None = Query(None, description="Page the list: the `next` of the previous page."),
) -> dict[str, Any]:
    """Memories newest first, a page at a time; with `query`, the most similar ones with their `similarity`."""
    async with request.app.state.engine.connect() as conn:
        if query is None:
            return await store.list_page(conn, limit, before)
        if before is not None:
            raise errors.InvalidMemory("'before' pages the list, but a search returns a single page.")
        return {"memories": await store.search(conn, request.app.state.embedder, query, limit)}


@router.get("/{memory_id}")
async def get_memory(request: Request, memory_id: params.RowId) -> dict[str, Any]:
    """One memory."""
    async with request.app.state.engine.connect() as conn:
        return await store.get(conn, memory_id)


@router.patch("/{memory_id}", dependencies=[Depends(access.require_admin)])
async def update_memory(request: Request, memory_id: params.RowId, body: MemoryBody) -> dict[str, Any]:
    """Change a memory's content (it is embedded again)."""
    async with request.app.state.engine.begin() as conn:
        return await store.update(conn, request.app.state.embedder, memory_id, body.content)


@router.delete("/{memory_id}", status_code=204, dependencies=[Depends(access.require_admin)])
async def delete_memory(request: Request, memory_id: params.RowId) -> Response:
    """Forget a memory."""
    async with request.app.state.engine.begin() as conn:
        await store.delete(conn, memory_id)
    return Response(status_code=204)
