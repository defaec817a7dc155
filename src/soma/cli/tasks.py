"""`soma tasks list|create|pause|resume|run|delete`: scheduled tasks, changed in PostgreSQL directly, as an operator (every task)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import typer

from soma import errors
from soma.cli.common import DB_VARS, app, fail, on_database

tasks_app = typer.Typer(help="Scheduled tasks: prompts that run on a schedule (the workers run them).", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


def _in_transaction(work: Any) -> Any:
    """Run `work(conn)` in one transaction on Soma's database; errors exit 1."""

    async def go(engine: Any) -> Any:
        async with engine.begin() as conn:
            return await work(conn)

    return on_database(go)


def _task_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(errors.TaskNotFound(f"{value!r} is not a task id (`soma tasks list` shows them)."))


def _line(task: dict[str, Any]) -> str:
    schedule = task["schedule"]
    when = (
        f"cron '{schedule['cron']}' {schedule['timezone']}" if "cron" in schedule
        else f"every {schedule['every_seconds']}s" if "every_seconds" in schedule else f"{len(schedule['at'])} dates"
    )  # fmt: skip
    state = "paused" if task["paused"] else f"next {task['next_run_at'] or 'none'}"
    last = task["last_run"]["outcome"] if task["last_run"] else "never run"
    return f"{task['id']}  {task['name']!r}  {when}  {state}  last: {last}  owner {task['owner']}"


@tasks_app.command("list", help=f"List every scheduled task with its schedule, next due time and last outcome. Reads {DB_VARS}.")
def list_tasks(as_json: bool = typer.Option(False, "--json", help='Print {"tasks": [...]} as GET /v1/tasks gives it.')) -> None:
    from soma.schedules import store

    shown = _in_transaction(lambda conn: store.list_all(conn))
    if as_json:
        typer.echo(json.dumps({"tasks": shown}))
        return
    if not shown:
        typer.echo("no scheduled tasks (add one with `soma tasks create`)")
    for task in shown:
        typer.echo(_line(task))


@tasks_app.command(
    "create",
    help="Schedule a prompt: --cron (with --timezone), --every SECONDS, or --at DATETIME (repeat for several). "
    f"Owned by --owner, else by the first admin user (or admin key). Reads {DB_VARS}.",
)
def create(
    name: str = typer.Argument(..., help="Shown in the list and as each run's chat title."),
    prompt: str = typer.Option(..., "--prompt", help="The message each run posts."),
    cron: Optional[str] = typer.Option(None, "--cron", help="5 fields, or 6 with seconds last: '0 7 * * 1-5', '* * * * * */2'."),
    timezone: str = typer.Option("UTC", "--timezone", help="The IANA time zone of --cron, e.g. Europe/Berlin."),
    every: Optional[int] = typer.Option(None, "--every", help="Seconds between runs."),
    at: list[str] = typer.Option([], "--at", help="An ISO datetime with offset, e.g. 2026-12-24T18:00:00+01:00; repeat for several."),
    profile: Optional[str] = typer.Option(None, "--profile", help="The agent profile its chats use [default: assistant]."),
    same_chat: bool = typer.Option(False, "--same-chat", help="Run in one chat it keeps, instead of a new chat each time."),
    missed: str = typer.Option("skip", "--missed", help="Due times missed while Soma was down: skip, or run_once (late)."),
    webhook_url: Optional[str] = typer.Option(None, "--webhook-url", help="POST each finished run here, signed; the secret is printed once."),
    owner: Optional[str] = typer.Option(None, "--owner", help="A username, or key:<id> [default: the first admin]."),
    paused: bool = typer.Option(False, "--paused", help="Create it paused."),
    as_json: bool = typer.Option(False, "--json", help="Print the task as POST /v1/tasks answers."),
) -> None:
    from soma.schedules import store

    kinds = [kind for kind, given in (("cron", cron), ("every", every), ("at", at)) if given]
    if len(kinds) != 1:
        fail(errors.InvalidTask(f"'schedule': give exactly one of --cron, --every or --at (got {', '.join(kinds) or 'none'})."))
    schedule = {"cron": cron, "timezone": timezone} if cron else {"every_seconds": every} if every else {"at": at}
    body = {"name": name, "prompt": prompt, "schedule": schedule, "target": "same_chat" if same_chat else "new_chat", "missed": missed,
            "paused": paused, "webhook_url": webhook_url} | ({"profile": profile} if profile else {})  # fmt: skip
    try:
        task = store.parse(store.NewTask, body)
    except errors.SomaError as exc:
        fail(exc)

    async def work(conn: Any) -> dict[str, Any]:
        return await store.create(conn, task, await _owner(conn, owner))

    made = _in_transaction(work)
    if as_json:
        typer.echo(json.dumps(made))
        return
    typer.echo(f"created task {made['id']} {made['name']!r}, next run {made['next_run_at'] or 'none (paused)'}")
    if made.get("webhook_secret"):
        typer.echo(f"webhook secret (shown once): {made['webhook_secret']}", err=True)


async def _owner(conn: Any, given: str | None) -> str:
    """`user:<id>` of a username, `key:<id>` as given, or the first active admin user (else admin key)."""
    import sqlalchemy as sa

    from soma.auth import users
    from soma.db import tables

    if given is not None and given.startswith("key:"):
        key = (await conn.execute(sa.select(tables.api_keys.c.id).where(tables.api_keys.c.id == _number(given[4:])))).scalar_one_or_none()
        if key is None:
            raise errors.KeyNotFound(f"No API key has id {given[4:]!r}.")
        return f"key:{key}"
    if given is not None:
        user = await users.find(conn, given)
        if user is None:
            raise errors.UserNotFound(f"No user is named {given!r}.")
        return f"user:{user['id']}"
    u, k = tables.users, tables.api_keys
    user_id = (await conn.execute(sa.select(u.c.id).where(u.c.role == "admin", u.c.disabled_at.is_(None)).order_by(u.c.id).limit(1))).scalar()
    if user_id is not None:
        return f"user:{user_id}"
    admin_key = sa.select(k.c.id).where(k.c.scopes.any("admin"), k.c.revoked_at.is_(None)).order_by(k.c.id).limit(1)
    key_id = (await conn.execute(admin_key)).scalar()
    if key_id is None:
        raise errors.UserNotFound("No admin user or admin key exists to own the task; give --owner USERNAME.")
    return f"key:{key_id}"


def _number(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _change(task_id: str, fields: dict[str, Any], said: str) -> None:
    from soma.schedules import store

    change = store.Change.model_validate(fields)
    task = _in_transaction(lambda conn: store.change(conn, _task_id(task_id), change))
    typer.echo(f"{said} task {task['id']} {task['name']!r}" + (f", next run {task['next_run_at']}" if task["next_run_at"] else ""))


@tasks_app.command("pause", help=f"Pause a task: it does not run until resumed. Reads {DB_VARS}.")
def pause(task_id: str = typer.Argument(..., help="The task's id (`soma tasks list`).")) -> None:
    _change(task_id, {"paused": True}, "paused")


@tasks_app.command("resume", help=f"Resume a paused task; its next due time counts from now. Reads {DB_VARS}.")
def resume(task_id: str = typer.Argument(..., help="The task's id (`soma tasks list`).")) -> None:
    _change(task_id, {"paused": False}, "resumed")


@tasks_app.command("run", help=f"Run a task now, outside its schedule; a worker takes its turn. Reads {DB_VARS}.")
def run(task_id: str = typer.Argument(..., help="The task's id (`soma tasks list`).")) -> None:
    from soma.schedules import runs, scheduler

    async def work(engine: Any) -> dict[str, Any]:
        run_id = await scheduler.run_now(engine, _task_id(task_id))
        async with engine.connect() as conn:
            return await runs.get(conn, run_id)

    started = on_database(work)
    typer.echo(f"run {started['id']}: {started['outcome']}" + (f" in chat {started['session_id']}" if started["session_id"] else f": {started['reason']}"))


@tasks_app.command("delete", help=f"Delete a task and its history; the chats its runs made stay. Reads {DB_VARS}.")
def delete(task_id: str = typer.Argument(..., help="The task's id (`soma tasks list`).")) -> None:
    from soma.schedules import store

    _in_transaction(lambda conn: store.delete(conn, _task_id(task_id)))
    typer.echo(f"deleted task {task_id}")
