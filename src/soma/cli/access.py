"""`soma users` and `soma keys`: run against the database directly, so they work with no admin logged in."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar

import typer

from soma import errors
from soma.cli.common import DB_VARS, app, fail, on_database

users_app = typer.Typer(help="Users of the web UI.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the CLI and integrations.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
T = TypeVar("T")


def _run(work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run `work(conn, actor)` in one transaction on Soma's database, as the OS user; errors exit 1."""
    from soma.audit import log as audit
    from soma.auth import admin

    async def in_transaction(engine: Any) -> T:
        async with engine.begin() as conn:
            return await work(conn, admin.Actor(audit.cli_actor()))

    return on_database(in_transaction)


def _password(prompt: str) -> str:
    """From standard input when piped, else asked twice without echo; never an argument."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"{prompt}: ")
    if first != getpass.getpass("Again: "):
        fail(errors.PasswordsDiffer())
    return first


@users_app.command("create", help=f"Create a user; the password is read from standard input or asked. Reads {DB_VARS}.")
def create_user(
    username: str,
    role: str = typer.Option("member", help="admin or member."),
    break_glass: bool = typer.Option(
        False, "--break-glass", help="An admin whose password works even with SOMA_LOCAL_LOGIN=false, for when the identity provider is down; each login is audited."
    ),
) -> None:
    from soma.auth import admin

    password = _password(f"Password for {username}")

    user = _run(lambda conn, actor: admin.create_user(conn, actor, username, password, role, break_glass))
    kind = "break-glass admin" if user["break_glass"] else user["role"]
    typer.echo(f"created {kind} {user['username']} (id {user['id']})")


@users_app.command("list", help=f"List users. Reads {DB_VARS}.")
def list_users() -> None:
    from soma.auth import users

    for user in _run(lambda conn, _actor: users.list_all(conn)):
        state = f"disabled {user['disabled_at']:%Y-%m-%d %H:%M}" if user["disabled_at"] else "active"
        how = "break-glass" if user["break_glass"] else "sso" if user["sso"] else "invited" if user["email"] and not user["sso"] else "password"
        typer.echo(f"{user['id']:>4}  {user['username']:<24} {user['role']:<7} {how:<11} {state}")


@users_app.command("disable", help=f"Disable a user and end their sessions at once. Reads {DB_VARS}.")
def disable_user(username: str) -> None:
    from soma.auth import admin

    async def work(conn, actor) -> None:
        await admin.set_disabled(conn, actor, await _find(conn, username), True)

    _run(work)
    typer.echo(f"disabled {username}; their sessions have ended")


@users_app.command("reset-password", help=f"Set a user's password (read from standard input or asked); their sessions end. Reads {DB_VARS}.")
def reset_password(username: str) -> None:
    from soma.auth import admin

    password = _password(f"New password for {username}")

    async def work(conn, actor) -> None:
        await admin.reset_password(conn, actor, await _find(conn, username), password)

    _run(work)
    typer.echo(f"password of {username} reset; their sessions have ended")


async def _find(conn, username: str) -> dict:
    from soma.auth import users

    user = await users.find(conn, username)
    if user is None:
        raise errors.UserNotFound(f"No user is named {username!r}.")
    return user


@keys_app.command("create", help=f"Create an API key and print it once. Reads {DB_VARS}.")
def create_key(
    name: str = typer.Option(..., help="What uses the key, e.g. 'ci smoke test'."),
    scope: list[str] = typer.Option(..., help="admin, chat or metrics; repeat for several."),
    expires: Optional[float] = typer.Option(None, help="Days until the key stops working [default: never]."),
) -> None:
    from soma.auth import admin

    key, row = _run(lambda conn, actor: admin.create_key(conn, actor, name, scope, expires))
    typer.echo(key)
    typer.echo(f"key {row['id']} '{row['name']}' ({', '.join(row['scopes'])}): store it now, it is not shown again.", err=True)


@keys_app.command("list", help=f"List API keys (never the keys themselves). Reads {DB_VARS}.")
def list_keys() -> None:
    from soma.auth import keys

    for row in _run(lambda conn, _actor: keys.list_all(conn)):
        used = f"last used {row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never used"
        typer.echo(f"{row['id']:>4}  {row['prefix']}…  {row['name']:<24} {','.join(row['scopes']):<12} {_key_state(row)}  {used}")


def _key_state(row: dict) -> str:
    if row["revoked_at"]:
        return f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}"
    if row["expires_at"]:
        return f"expires {row['expires_at']:%Y-%m-%d %H:%M}"
    return "active"


@keys_app.command("revoke", help=f"Revoke one key by id, or every key with --all (the emergency switch). Reads {DB_VARS}.")
def revoke_key(
    key_id: Optional[int] = typer.Argument(None, help="The key's id from `soma keys list`."),
    all_keys: bool = typer.Option(False, "--all", help="Revoke every API key; login sessions are not affected."),
) -> None:
    from soma.auth import admin

    if key_id is not None and all_keys:
        fail(errors.RevokeNeedsOneTarget(f"Both key id {key_id} and --all were given."))
    if key_id is None and not all_keys:
        fail(errors.RevokeNeedsOneTarget("No key id was given."))

    async def work(conn, actor) -> str:
        if all_keys:
            count = await admin.revoke_all_keys(conn, actor)
            return f"revoked {count} key(s); every API key is now refused"
        row = await admin.revoke_key(conn, actor, key_id)
        return f"revoked key {key_id} '{row['name']}'"

    typer.echo(_run(work))
