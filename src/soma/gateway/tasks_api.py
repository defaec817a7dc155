"""/v1/tasks: scheduled tasks, their runs and unread marks; members manage their own, admins every one (and list them all)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Request, Response

from soma import errors
from soma.gateway import access, openapi
from soma.schedules import runs, scheduler, store

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place, for a request body the route reads itself."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _body(model: type[store.Fields]) -> dict[str, Any]:
    """The route's documented body: `model`, read by store.parse so a bad field is 422 invalid_task naming it."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": _inline(model.model_json_schema())}}}}


@router.get("")
async def list_tasks(request: Request) -> dict[str, Any]:
    """Scheduled tasks, newest first: the caller's own, or every one for admins (each with its `owner`)."""
    async with request.app.state.engine.connect() as conn:
        return {"tasks": await store.list_all(conn, access.chat_owner_filter(request))}


@router.post("", status_code=201, openapi_extra=_body(store.NewTask), responses=openapi.raises(errors.InvalidTask))
async def create_task(request: Request, body: dict[str, Any] = Body()) -> dict[str, Any]:
    """Schedule a prompt: cron with a time zone, an interval, or dates. With a `webhook_url`, the answer holds `webhook_secret`, shown this once."""
    task = store.parse(store.NewTask, body)
    async with request.app.state.engine.begin() as conn:
        return await store.create(conn, task, access.principal(request).owner)


@router.get("/{task_id}")
async def get_task(request: Request, task_id: uuid.UUID) -> dict[str, Any]:
    """One task, with its unread count and latest run."""
    async with request.app.state.engine.connect() as conn:
        return await store.get(conn, task_id, access.chat_owner_filter(request))


@router.patch("/{task_id}", openapi_extra=_body(store.Change), responses=openapi.raises(errors.InvalidTask))
async def change_task(request: Request, task_id: uuid.UUID, body: dict[str, Any] = Body()) -> dict[str, Any]:
    """Change any of its fields: pause and resume with `paused`; a new schedule or a resume counts from now.

    `{"rotate_webhook_secret": true}` (or a first webhook_url) answers with a new `webhook_secret`, shown this once.
    """
    change = store.parse(store.Change, body)
    async with request.app.state.engine.begin() as conn:
        return await store.change(conn, task_id, change, access.chat_owner_filter(request))


@router.delete("/{task_id}", status_code=204)
async def delete_task(request: Request, task_id: uuid.UUID) -> Response:
    """Delete a task and its history; the chats its runs made stay."""
    async with request.app.state.engine.begin() as conn:
        await store.delete(conn, task_id, access.chat_owner_filter(request))
    return Response(status_code=204)


@router.post("/{task_id}/run", status_code=202)
async def run_task(request: Request, task_id: uuid.UUID) -> dict[str, Any]:
    """Run it now, outside its schedule (paused or not); its chat and turn are queued with the run."""
    engine = request.app.state.engine
    run_id = await scheduler.run_now(engine, task_id, access.chat_owner_filter(request))
    async with engine.connect() as conn:
        return {"run": await runs.get(conn, run_id)}


@router.get("/{task_id}/runs")
async def list_runs(request: Request, task_id: uuid.UUID) -> dict[str, Any]:
    """Its runs, newest first (the latest 200): outcome, chat, lateness, and each webhook delivery."""
    async with request.app.state.engine.connect() as conn:
        await store.exists(conn, task_id, access.chat_owner_filter(request))
        return {"runs": await runs.history(conn, task_id)}


@router.post("/{task_id}/read", status_code=204)
async def mark_read(request: Request, task_id: uuid.UUID) -> Response:
    """Mark its finished runs read: its `unread` count becomes 0."""
    async with request.app.state.engine.begin() as conn:
        await store.exists(conn, task_id, access.chat_owner_filter(request))
        await runs.mark_read(conn, task_id)
    return Response(status_code=204)
