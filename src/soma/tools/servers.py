"""A tool server's configuration: an entry of the `mcpServers` JSON other clients use, checked, with Soma's limits.

The entry is kept exactly as given, so exporting what was imported gives the same JSON back:
`{"command", "args", "env"}` for stdio, `{"url", "headers"}` for streamable HTTP, each with an
optional `type` (or `transport`, as the API's PUT spells it) and Soma's own `disabled`,
`init_timeout`, `call_timeout` and `output_cap`. `parse` checks it whole and names every problem.
"""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from soma import config, errors
from soma.tools import references
from soma.tools.registry import BUILTIN_SERVER

Transport = Literal["stdio", "streamable-http"]
STDIO: Transport = "stdio"
HTTP: Transport = "streamable-http"
_TYPES: dict[str, Transport] = {"stdio": STDIO, "streamable-http": HTTP, "http": HTTP, "streamableHttp": HTTP}

# The name is part of the SLM's function names (`server__tool`, at most 64 characters).
NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
RESERVED_NAME = "servers"  # /v1/tools/servers/{name} would shadow /v1/tools/{server}/{tool} for it
MAX_SERVERS = 64  # in one mcpServers document, and configured at once

DEFAULT_INIT_TIMEOUT = 10.0  # seconds to start, answer and list tools
DEFAULT_CALL_TIMEOUT = 120.0  # seconds for one call
DEFAULT_OUTPUT_CAP = 64 * 1024  # bytes of a result's text the SLM gets; the rest is cut with a note
MAX_INIT_TIMEOUT = 600.0  # seconds: a first `npx`/`uvx` start may download its server
MAX_CALL_TIMEOUT = 86400.0  # seconds: a day; a turn waits this long at most for one call
MAX_OUTPUT_CAP = 1024 * 1024  # bytes: more than any SLM context takes

_KEYS = {
    STDIO: {"command", "args", "env"},
    HTTP: {"url", "headers"},
}
_SOMA_KEYS = {"type", "transport", "disabled", "init_timeout", "call_timeout", "output_cap"}
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Set by the HTTP client or the MCP transport itself; a configured value would break the protocol.
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "mcp-session-id", "mcp-protocol-version"}
_MAX_TEXT = 32 * 1024  # characters of one command, argument or value
_MAX_ITEMS = 128  # arguments, variables or headers


@dataclass(frozen=True)
class Server:
    """One configured server: its transport's fields, Soma's limits, and the entry as given."""

    name: str
    transport: Transport
    entry: dict[str, Any]
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    url: str = ""
    headers: Mapping[str, str] | None = None
    disabled: bool = False
    init_timeout: float = DEFAULT_INIT_TIMEOUT
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    output_cap: int = DEFAULT_OUTPUT_CAP
    version: str = ""  # when its row last changed (tool_servers.updated_at), once stored

    @property
    def connection_key(self) -> tuple[Any, ...]:
        """What a connection depends on: a change of any of it means connecting again."""
        return (self.transport, self.command, self.args, dict(self.env or {}), self.url, dict(self.headers or {}),
                self.disabled, self.init_timeout)  # fmt: skip


def parse(name: str, entry: Any, settings: config.Settings | None) -> Server:
    """The server an entry describes; InvalidToolServer naming every problem (settings: see references.problem)."""
    problems: list[str] = []
    if not isinstance(name, str) or not NAME.fullmatch(name) or "__" in name:
        problems.append(f"the name {name!r} must be 1-32 letters, digits, '_' or '-' (no '__')")
    elif name == BUILTIN_SERVER:
        problems.append(f"the name {name!r} is the built-in tools' own")
    elif name == RESERVED_NAME:
        problems.append(f"the name {name!r} is taken by the API's own path (/v1/tools/servers)")
    if not isinstance(entry, dict):
        raise errors.InvalidToolServer(f"Tool server {name!r}: " + "; ".join([*problems, "its entry must be a JSON object"]) + ".")
    transport = _transport(entry, problems)
    if transport is not None:
        unknown = sorted(set(entry) - _KEYS[transport] - _SOMA_KEYS)
        if unknown:
            allowed = ", ".join(sorted(_KEYS[transport] | _SOMA_KEYS))
            problems.append(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not a {transport} server's key (allowed: {allowed})")
    limits = _limits(entry, problems)
    fields: dict[str, Any] = {}
    if transport == STDIO:
        fields = {"command": _command(entry, problems), "args": _args(entry, problems), "env": _values(name, entry, "env", _VARIABLE, settings, problems)}
    elif transport == HTTP:
        fields = {"url": _url(entry, problems), "headers": _values(name, entry, "headers", _HEADER, settings, problems)}
    if problems or transport is None:
        raise errors.InvalidToolServer(f"Tool server {name!r}: " + "; ".join(problems) + ".")
    return Server(name, transport, entry, **fields, **limits)


def parse_all(servers: Any, settings: config.Settings | None) -> list[Server]:
    """Every server of an mcpServers object ({name: entry}); InvalidToolServer naming every bad entry."""
    if not isinstance(servers, dict):
        raise errors.InvalidToolServer('The body must be {"mcpServers": {"<name>": {…}, …}}.')
    if len(servers) > MAX_SERVERS:
        raise errors.InvalidToolServer(f"{len(servers)} servers is more than the {MAX_SERVERS} Soma takes.")
    parsed, problems = [], []
    for name, entry in servers.items():
        try:
            parsed.append(parse(name, entry, settings))
        except errors.InvalidToolServer as exc:
            problems.append(exc.detail or "")
    if problems:
        raise errors.InvalidToolServer(" ".join(problems))
    return parsed


def export(servers: list[Server]) -> dict[str, Any]:
    """The mcpServers document of these servers, each entry as it was given."""
    return {"mcpServers": {server.name: server.entry for server in servers}}


def _transport(entry: dict[str, Any], problems: list[str]) -> Transport | None:
    given = [key for key in ("type", "transport") if key in entry]
    if len(given) > 1:
        problems.append("give 'type' or 'transport', not both")
        return None
    stated = entry[given[0]] if given else None
    if stated == "sse":
        problems.append("the SSE transport is not supported: give the server's streamable HTTP URL (often ending in /mcp)")
        return None
    if stated is not None and (not isinstance(stated, str) or stated not in _TYPES):
        problems.append(f"the transport {stated!r} is not one of stdio, streamable-http")
        return None
    implied = STDIO if "command" in entry else HTTP if "url" in entry else None
    transport = _TYPES[stated] if stated is not None else implied
    if transport is None:
        problems.append("it needs a 'command' (stdio) or a 'url' (streamable-http)")
    elif implied is not None and implied != transport or ("command" in entry and "url" in entry):
        problems.append("a stdio server has a 'command' and no 'url'; a streamable-http server a 'url' and no 'command'")
        return None
    return transport


def _limits(entry: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        problems.append(f"'disabled' must be true or false (got {disabled!r})")
    limits["disabled"] = disabled is True
    for key, default, most, unit in (
        ("init_timeout", DEFAULT_INIT_TIMEOUT, MAX_INIT_TIMEOUT, "seconds"),
        ("call_timeout", DEFAULT_CALL_TIMEOUT, MAX_CALL_TIMEOUT, "seconds"),
        ("output_cap", DEFAULT_OUTPUT_CAP, MAX_OUTPUT_CAP, "bytes"),
    ):
        value = entry.get(key, default)
        whole = key == "output_cap"
        kind_ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not kind_ok or not math.isfinite(value) or not 0 < value <= most:
            kind = "a whole number" if whole else "a number"
            most_text = int(most) if float(most).is_integer() else most
            problems.append(f"'{key}' must be {kind} of {unit} above 0 and at most {most_text} (got {value!r})")
            value = default
        limits[key] = int(value) if whole else float(value)
    return limits


def _text(value: Any, what: str, problems: list[str], empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()) or len(value) > _MAX_TEXT or "\x00" in value:
        problems.append(f"{what} must be {'' if empty else 'non-empty '}text of at most {_MAX_TEXT} characters without NUL (got {str(value)[:80]!r})")
        return ""
    return value


def _command(entry: dict[str, Any], problems: list[str]) -> str:
    return _text(entry.get("command"), "'command'", problems, empty=False)


def _args(entry: dict[str, Any], problems: list[str]) -> tuple[str, ...]:
    args = entry.get("args", [])
    if not isinstance(args, list) or len(args) > _MAX_ITEMS:
        problems.append(f"'args' must be a list of at most {_MAX_ITEMS} texts")
        return ()
    return tuple(_text(arg, f"'args[{n}]'", problems) for n, arg in enumerate(args))


def _values(server: str, entry: dict[str, Any], key: str, names: re.Pattern[str], settings: config.Settings | None, problems: list[str]) -> dict[str, str]:
    """env or headers: names of the right form, values that are plain text or references, secrets only as references."""
    given = entry.get(key, {})
    if not isinstance(given, dict) or len(given) > _MAX_ITEMS:
        problems.append(f"'{key}' must be an object of at most {_MAX_ITEMS} names and texts")
        return {}
    checked: dict[str, str] = {}
    for name, value in given.items():
        where = f"'{key}.{name}'"
        if not names.fullmatch(name) or (key == "headers" and name.lower() in _RESERVED_HEADERS):
            problems.append(f"{where} is not a name Soma can set")
            continue
        text = _text(value, where, problems)
        if key == "headers" and ("\r" in text or "\n" in text):
            problems.append(f"{where} must be one line")
            continue
        reference = references.parse(text)
        if reference is None and text and references.SECRET_NAME.search(name):
            problems.append(
                f"{where} holds a plain value under a secret's name: store the secret in Vault and write a reference such as "
                f"\"vault:kv/mcp/{server}#{name.lower()}\" (or env:NAME, file:/path) instead"
            )
        elif reference is not None and (why := references.problem(reference, settings)):
            problems.append(f"{where}: {why}")
        checked[name] = text
    return checked


def _url(entry: dict[str, Any], problems: list[str]) -> str:
    """An http(s) URL with a host, no user:password, no secret in its query, not a link-local or unspecified address."""
    url = _text(entry.get("url"), "'url'", problems, empty=False)
    if not url:
        return ""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        problems.append(f"'url' {url!r} is not a URL ({exc})")
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"'url' {url!r} must be an http:// or https:// URL with a host")
    elif parts.username is not None or parts.password is not None:
        problems.append("'url' must not hold a user or password: send the credential in 'headers' as a vault: reference")
    elif any(references.SECRET_NAME.search(name) for name, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)):
        problems.append("'url' must not carry a secret in its query: send it in 'headers' as a vault: reference")
    elif _forbidden_host(parts.hostname):
        problems.append(f"'url' points at {parts.hostname}, a link-local or unspecified address (such as a cloud metadata service), which no tool server has")
    return url


def _forbidden_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_link_local or address.is_unspecified or address.is_multicast
