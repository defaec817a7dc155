"""The scheduled_tasks table: tasks checked whole, made, listed, changed and deleted, each owner seeing their own.

`owner` None is an admin's view: every task. Someone else's task is "not found", so ids cannot be
probed. A change of schedule, or a resume, sets the next due time from the database's clock; a
paused task has none.
"""

from __future__ import annotations

import datetime
import re
import secrets
import uuid
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.db import tables
from soma.profiles import store as profiles
from soma.schedules import runs, timing

MAX_NAME_CHARS = 200
MAX_PROMPT_CHARS = 20000
MAX_URL_CHARS = 2000
_URL = re.compile(r"https?://[^\s/?#@]+(?:[/?#]\S*)?", re.IGNORECASE)  # no user:password@ (it would go to the logs)
_t = tables.scheduled_tasks


def _text(value: str | None, what: str) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    if value is not None and not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


class Fields(BaseModel):
    """What PATCH /v1/tasks/{id} may change; each field left out stays."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_CHARS, description="Shown in the list and as each run's chat title.")
    prompt: str | None = Field(None, min_length=1, max_length=MAX_PROMPT_CHARS, description="The user message each run posts.")
    profile: str | None = Field(None, max_length=40, description="The agent profile its chats run with (GET /v1/profiles).")
    schedule: timing.Schedule | None = None
    target: Literal["new_chat", "same_chat"] | None = Field(None, description="A new chat for each run, or one chat it keeps.")
    missed: Literal["skip", "run_once"] | None = Field(None, description="Due times missed while Soma was down: skip them, or run once, late.")
    paused: bool | None = None
    webhook_url: str | None = Field(None, max_length=MAX_URL_CHARS, description="http(s) URL that gets each finished run, signed.")

    @field_validator("name", "prompt")
    @classmethod
    def _texts(cls, value: str | None, info: Any) -> str | None:
        return _text(value, info.field_name)

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (not _URL.fullmatch(value) or not value.isprintable()):
            raise ValueError(f"{value!r} is not an http:// or https:// URL (without user:password@)")
        return value


class NewTask(Fields):
    """Body of POST /v1/tasks: name, prompt and schedule are required."""

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)  # type: ignore[assignment]
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)  # type: ignore[assignment]
    schedule: timing.Schedule  # type: ignore[assignment]
    target: Literal["new_chat", "same_chat"] = "new_chat"  # type: ignore[assignment]
    missed: Literal["skip", "run_once"] = "skip"  # type: ignore[assignment]
    paused: bool = False  # type: ignore[assignment]


class Change(Fields):
    """Body of PATCH /v1/tasks/{id}: any of the fields, and `rotate_webhook_secret` for a new secret (shown once)."""

    rotate_webhook_secret: bool = False


F = TypeVar("F", bound=Fields)


def parse(model: type[F], data: Any) -> F:
    """A body as `model`, or InvalidTask naming each bad field and why."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.InvalidTask(problems(exc)) from None  # the message names every problem already


def problems(exc: ValidationError) -> str:
    """`'schedule.cron': '61 * * * *' is not …` for each problem, the schedule's kind said once."""
    found = []
    for error in exc.errors():
        path = [str(part) for part in error["loc"]]
        if path[:1] == ["schedule"] and len(path) > 2:
            del path[1]  # the schedule's kind, which the next part names again: schedule.cron.cron
        where = ".".join(path) or "body"
        message = error["msg"].removeprefix("Value error, ")
        found.append(f"'{where}' is not a field of a task" if error["type"] == "extra_forbidden" else f"'{where}': {message}")
    return "; ".join(found) + "."


async def _now(conn: AsyncConnection) -> datetime.datetime:
    return (await conn.execute(sa.select(sa.func.clock_timestamp()))).scalar_one()


async def _first_due(conn: AsyncConnection, schedule: Any) -> datetime.datetime | None:
    """The first due time of a schedule set now; InvalidTask for dates in the past and a cron that never comes."""
    now = await _now(conn)
    if isinstance(schedule, timing.At) and (past := [m for m in schedule.at if m <= now]):
        raise errors.InvalidTask(f"'schedule.at': {past[0].isoformat()} is in the past (the database's clock says {now.isoformat()}).")
    due = timing.first_due(schedule, now)
    if due is None:
        raise errors.InvalidTask(f"'schedule.cron': {schedule.cron!r} matches no date, so it would never run.")
    return due


async def _check_profile(conn: AsyncConnection, name: str | None) -> None:
    if name is not None and await profiles.find(conn, name) is None:
        raise errors.InvalidTask(f"'profile': no agent profile is named {name!r} (GET /v1/profiles lists them).")


def new_secret() -> str:
    """A webhook's HMAC key: 256 bits, URL-safe, shown to its owner once."""
    return secrets.token_urlsafe(32)


async def create(conn: AsyncConnection, task: NewTask, owner: str) -> dict[str, Any]:
    """Store a task for `owner`; its JSON, with `webhook_secret` when it has a webhook (the only time it is shown)."""
    profile = task.profile if "profile" in task.model_fields_set else await _default_profile(conn)
    await _check_profile(conn, profile)
    secret = new_secret() if task.webhook_url else None
    values = {
        "owner": owner, "name": task.name, "prompt": task.prompt, "profile": profile, "schedule": timing.as_json(task.schedule),
        "target": task.target, "missed": task.missed, "paused": task.paused, "webhook_url": task.webhook_url, "webhook_secret": secret,
        "next_run_at": None if task.paused else await _first_due(conn, task.schedule),
    }  # fmt: skip
    task_id = (await conn.execute(sa.insert(_t).values(values).returning(_t.c.id))).scalar_one()
    shown = await get(conn, task_id)
    return shown | {"webhook_secret": secret} if secret else shown


async def _default_profile(conn: AsyncConnection) -> str | None:
    """As for a chat: `assistant` while it exists, else none (the settings alone)."""
    return profiles.DEFAULT if await profiles.find(conn, profiles.DEFAULT) is not None else None


async def change(conn: AsyncConnection, task_id: uuid.UUID, change: Change, owner: str | None = None) -> dict[str, Any]:
    """Apply the fields given; a new schedule or a resume sets the next due time from now, a pause clears it."""
    row = await _row(conn, task_id, owner, lock=True)
    given = change.model_dump(exclude_unset=True, exclude={"rotate_webhook_secret"})
    for required in ("name", "prompt", "schedule", "target", "missed", "paused"):
        if required in given and given[required] is None:
            raise errors.InvalidTask(f"'{required}': a task always has one; leave it out to keep it.")
    values: dict[str, Any] = {key: value for key, value in given.items() if key != "schedule"}
    if "profile" in given:
        await _check_profile(conn, change.profile)
    schedule = change.schedule if "schedule" in given else parse_stored(row.schedule)
    if "schedule" in given:
        values["schedule"] = timing.as_json(change.schedule)  # type: ignore[arg-type]
    paused = given.get("paused", row.paused)
    if paused:
        values["next_run_at"] = None
    elif "schedule" in given or row.paused:
        values["next_run_at"] = await _first_due(conn, schedule)
    secret = None
    if change.webhook_url is not None and (row.webhook_secret is None or change.rotate_webhook_secret):
        secret = values["webhook_secret"] = new_secret()
    elif "webhook_url" in given and change.webhook_url is None:
        values["webhook_secret"] = None
    elif change.rotate_webhook_secret:
        if row.webhook_url is None:
            raise errors.InvalidTask("'rotate_webhook_secret': the task has no webhook_url; set one first.")
        secret = values["webhook_secret"] = new_secret()
    await conn.execute(sa.update(_t).where(_t.c.id == task_id).values(**values, updated_at=sa.func.now()))
    shown = await get(conn, task_id)
    return shown | {"webhook_secret": secret} if secret else shown


def parse_stored(schedule: Any) -> timing.Cron | timing.Every | timing.At:
    """A schedule as the table holds it: checked when it was stored, but a restore or a hand edit may bring one
    that is not (InvalidTask naming what is wrong, so the task can be given a new one)."""
    try:
        stored = Fields.model_validate({"schedule": schedule}).schedule
    except ValidationError as exc:
        raise errors.InvalidTask(f"The stored schedule is not valid: {problems(exc)}") from None
    if stored is None:
        raise errors.InvalidTask("The stored schedule is empty.")
    return stored


async def delete(conn: AsyncConnection, task_id: uuid.UUID, owner: str | None = None) -> None:
    """Delete a task and its runs; the chats its runs made stay, as any chat."""
    if (await conn.execute(_scoped(sa.delete(_t), task_id, owner).returning(_t.c.id))).one_or_none() is None:
        raise not_found(task_id)


async def list_all(conn: AsyncConnection, owner: str | None = None) -> list[dict[str, Any]]:
    """Tasks, newest first: `owner`'s, or all."""
    query = sa.select(*_SHOWN).order_by(_t.c.created_at.desc(), _t.c.id)
    if owner is not None:
        query = query.where(_t.c.owner == owner)
    rows = list(await conn.execute(query))
    last = await runs.latest(conn, [row.id for row in rows])
    return [_as_dict(row, last.get(row.id)) for row in rows]


async def get(conn: AsyncConnection, task_id: uuid.UUID, owner: str | None = None) -> dict[str, Any]:
    """One task as the API shows it; TaskNotFound when it does not exist or, with `owner`, is someone else's."""
    row = (await conn.execute(_scoped(sa.select(*_SHOWN), task_id, owner))).one_or_none()
    if row is None:
        raise not_found(task_id)
    return _as_dict(row, (await runs.latest(conn, [task_id])).get(task_id))


async def _row(conn: AsyncConnection, task_id: uuid.UUID, owner: str | None, lock: bool = False) -> Any:
    query = _scoped(sa.select(_t), task_id, owner)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise not_found(task_id)
    return row


async def exists(conn: AsyncConnection, task_id: uuid.UUID, owner: str | None = None) -> None:
    """TaskNotFound unless the task exists and, with `owner`, is theirs."""
    await _row(conn, task_id, owner)


def _scoped(statement: Any, task_id: uuid.UUID, owner: str | None) -> Any:
    statement = statement.where(_t.c.id == task_id)
    return statement if owner is None else statement.where(_t.c.owner == owner)


def not_found(task_id: uuid.UUID) -> errors.TaskNotFound:
    return errors.TaskNotFound(f"Task '{task_id}' does not exist.")


_UNREAD = (
    sa.select(sa.func.count())
    .where(tables.task_runs.c.task_id == _t.c.id, tables.task_runs.c.outcome != "running", tables.task_runs.c.read_at.is_(None))
    .scalar_subquery()
    .label("unread")
)
_SHOWN = (
    _t.c.id, _t.c.name, _t.c.prompt, _t.c.profile, _t.c.schedule, _t.c.target, _t.c.missed, _t.c.paused, _t.c.webhook_url,
    _t.c.next_run_at, _t.c.session_id, _t.c.owner, _t.c.created_at, _t.c.updated_at, _UNREAD,
)  # fmt: skip


def _as_dict(row: Any, last_run: dict[str, Any] | None) -> dict[str, Any]:
    """A task as the API shows it (never its webhook secret)."""
    return {
        "id": str(row.id), "name": row.name, "prompt": row.prompt, "profile": row.profile, "schedule": row.schedule,
        "target": row.target, "missed": row.missed, "paused": row.paused, "webhook_url": row.webhook_url,
        "next_run_at": runs.iso(row.next_run_at), "session_id": runs.text(row.session_id), "owner": row.owner,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(), "unread": row.unread, "last_run": last_run,
    }  # fmt: skip
