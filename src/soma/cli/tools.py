"""`soma tools list|add|import|export|remove`: MCP tool servers, changed in PostgreSQL directly (audited as the OS user).

Like `/v1/tools`, a change is stored first and then probed from here (connect, list tools, close,
within the server's init_timeout), so the command says whether the server works; the workers pick
the change up from the NOTIFY the write sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from soma import errors
from soma.cli.common import DB_VARS, KEY_VARS, app, fail, on_database, settings as _settings

tools_app = typer.Typer(help="MCP tool servers the agent may use, and its tools.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")


def _change(work: Any) -> dict[str, Any]:
    """Run `work(conn, actor)` in one audited transaction, probe what it stored, and return the overview."""
    from soma.audit import log as audit
    from soma.auth import admin
    from soma.tools import catalogue, overview

    settings = _settings()

    async def go(engine: Any) -> dict[str, Any]:
        async with engine.begin() as conn:
            stored = await work(conn, admin.Actor(audit.cli_actor()), settings)
        await catalogue.probe_and_record(engine, stored, settings)
        async with engine.connect() as conn:
            return await overview.describe(conn, settings)

    return on_database(go)


def _pairs(given: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name:
            fail(errors.InvalidToolServer(f"{option} {item!r} is not NAME=VALUE."))
        pairs[name] = value
    return pairs


def _print_servers(shown: dict[str, Any], names: list[str] | None = None) -> None:
    for server in shown["servers"]:
        if names is None or server["name"] in names:
            state = f"{server['state']}: {server['error']}" if server["error"] else server["state"]
            count = sum(1 for tool in shown["tools"] if tool["server"] == server["name"])
            typer.echo(f"{server['name']} ({server['transport'] or 'refused'}): {state}" + (f", {count} tools" if count else ""))


@tools_app.command("list", help=f"List the tool servers with their state, and every tool with its choice. Reads {DB_VARS}.")
def list_tools(as_json: bool = typer.Option(False, "--json", help="Print it as one JSON object, as GET /v1/tools gives it.")) -> None:
    from soma.tools import overview

    settings = _settings()

    async def work(engine: Any) -> dict[str, Any]:
        async with engine.connect() as conn:
            return await overview.describe(conn, settings)

    shown = on_database(work)
    if as_json:
        typer.echo(json.dumps(shown))
        return
    typer.echo("servers:" if shown["servers"] else "servers: none (add one with `soma tools add`)")
    _print_servers(shown)
    typer.echo("tools:")
    for tool in shown["tools"]:
        typer.echo(f"  {tool['server']}/{tool['name']}: {'enabled' if tool['enabled'] else 'disabled'}, {tool['approval']}")


@tools_app.command(
    "add",
    help="Add or change a server: --command (stdio, with --arg and --env) or --url (streamable HTTP, with --header). "
    "A secret is a reference: --env GITHUB_TOKEN=vault:kv/mcp/github#token, never the value. "
    f"Probes it and says whether it works; audited. Reads {DB_VARS}, {KEY_VARS} (for vault: references).",
)
def add(
    name: str = typer.Argument(..., help="Letters, digits, '_' and '-'; the agent sees its tools as NAME__tool."),
    command: Optional[str] = typer.Option(None, "--command", help="The program that runs a stdio server."),
    arg: list[str] = typer.Option([], "--arg", help="One argument of the command; repeat for each."),
    env: list[str] = typer.Option([], "--env", help="NAME=VALUE for the command's environment; repeat for each."),
    url: Optional[str] = typer.Option(None, "--url", help="A streamable-http server's URL (often ending in /mcp)."),
    header: list[str] = typer.Option([], "--header", help="NAME=VALUE sent with every request; repeat for each."),
    disabled: bool = typer.Option(False, "--disabled", help="Store it without connecting to it."),
    init_timeout: Optional[float] = typer.Option(None, help="Seconds to start and list tools [default: 10]."),
    call_timeout: Optional[float] = typer.Option(None, help="Seconds one call may take [default: 120]."),
    output_cap: Optional[int] = typer.Option(None, help="Bytes of a result the agent reads; the rest is cut [default: 65536]."),
) -> None:
    from soma.tools import servers, store

    entry: dict[str, Any] = {}
    if command is not None:
        entry.update(command=command, args=arg, env=_pairs(env, "--env"))
    if url is not None:
        entry.update(url=url, headers=_pairs(header, "--header"))
    if command is None and url is None:
        fail(errors.InvalidToolServer("Give --command (a stdio server) or --url (a streamable-http server)."))
    options = {"disabled": disabled or None, "init_timeout": init_timeout, "call_timeout": call_timeout, "output_cap": output_cap}
    entry.update({key: value for key, value in options.items() if value is not None})

    async def work(conn: Any, actor: Any, settings: Any) -> list[Any]:
        return [await store.put(conn, actor, servers.parse(name, entry, settings))]

    _print_servers(_change(work), [name])


@tools_app.command(
    "import",
    help="Make the configured servers those of an mcpServers JSON file (Claude Desktop's shape; its other keys are ignored): "
    f"all valid or nothing changes; with --merge, add or change only the servers it names. Reads {DB_VARS}, {KEY_VARS}.",
)
def import_servers(
    file: Path = typer.Argument(..., help='A JSON file holding {"mcpServers": {"<name>": {…}, …}}.'),
    merge: bool = typer.Option(False, "--merge", help="Keep the servers the file does not name."),
) -> None:
    from soma.tools import servers, store

    try:
        document = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(errors.InvalidToolServer(f"Cannot read {file} as JSON ({exc})."))
    if not isinstance(document, dict) or not isinstance(document.get("mcpServers"), dict):
        fail(errors.InvalidToolServer(f'{file} holds no "mcpServers" object.'))

    async def work(conn: Any, actor: Any, settings: Any) -> list[Any]:
        wanted = servers.parse_all(document["mcpServers"], settings)
        if merge:
            return [await store.put(conn, actor, server) for server in wanted]
        return await store.replace(conn, actor, wanted)

    shown = _change(work)
    typer.echo(f"imported {len(document['mcpServers'])} server(s) from {file}" + (" (merged)" if merge else ""))
    _print_servers(shown, list(document["mcpServers"]))


@tools_app.command("export", help=f"Print the configured servers as mcpServers JSON (references, never secret values). Reads {DB_VARS}.")
def export_servers() -> None:
    from soma.tools import servers, store

    settings = _settings()

    async def work(engine: Any) -> list[Any]:
        async with engine.connect() as conn:
            return (await store.load(conn, settings))[0]

    typer.echo(json.dumps(servers.export(on_database(work)), indent=2))


@tools_app.command("remove", help=f"Remove a server; its tools' choices stay, should it come back. Audited. Reads {DB_VARS}.")
def remove(name: str = typer.Argument(..., help="The server's name, as `soma tools list` shows it.")) -> None:
    from soma.audit import log as audit
    from soma.auth import admin
    from soma.tools import store

    async def work(engine: Any) -> None:
        async with engine.begin() as conn:
            await store.remove(conn, admin.Actor(audit.cli_actor()), name)

    on_database(work)
    typer.echo(f"removed {name}")
