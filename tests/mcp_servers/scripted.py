"""An MCP tool server for the tests, written with the official SDK: tools with effects a test can count.

    python tests/mcp_servers/scripted.py                      # stdio
    python tests/mcp_servers/scripted.py --http PORT          # Streamable HTTP on 127.0.0.1:PORT/mcp
    --require-env NAME=VALUE     refuse to start unless the environment has it (a secret reference resolved)
    --require-header NAME=VALUE  (HTTP) answer 401 to any request without it
                                 (VALUE may be sha256:HEX, so the secret itself need not be in the command line)
    --leak-env NAME              print that variable's value on stderr at start (a careless banner)
    --exit-at-start CODE         say so on stderr and exit with CODE (a server that dies at every start)
    --hang-at-start              never answer (a server that hangs before its handshake)
    --wait-while FILE            at start, wait until FILE is gone (a server that is slow to come back)
    --flood-stdout-at-start N    write N bytes to stdout without a line break before serving (stdio)
    --redirect-to URL            (HTTP) answer every request with 307 to URL
    --record-headers FILE        (HTTP) append each request's headers to FILE as a JSON line
    --dump-env FILE              write its whole environment to FILE as JSON at start
    SCRIPTED_STARTS_FILE         a line is appended to it at each start (a test counts restarts)

Tools: `append` writes a line to the file named by SCRIPTED_APPEND_FILE (not safe to repeat);
`read_lines` reads it (readOnlyHint); `add` (idempotentHint); `sleep` waits (a hanging server);
`crash` ends the process (a server that dies); `shout` returns `size` characters (the output cap);
`fail` returns an MCP tool error; `environment` lists the names of its environment variables and
`env` returns one's value (a server that hands its secret back); `flood_stderr` writes without end.
"""

from __future__ import annotations

import gc

gc.disable()  # while the SDK imports, as soma/startup.py does for soma: the suite starts this server a hundred times

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

gc.freeze()
gc.enable()

server = MCPServer("scripted", instructions="Tools with effects the Soma tests can count.")


def _file() -> Path:
    return Path(os.environ["SCRIPTED_APPEND_FILE"])


@server.tool(description="Append one line to the test's file.")
def append(line: str) -> str:
    with _file().open("a") as out:
        out.write(line + "\n")
    return f"appended {line!r}"


@server.tool(description="The lines of the test's file.", annotations=ToolAnnotations(readOnlyHint=True))
def read_lines() -> str:
    path = _file()
    return path.read_text() if path.exists() else ""


@server.tool(description="The sum of a and b.", annotations=ToolAnnotations(idempotentHint=True))
def add(a: float, b: float) -> str:
    return str(a + b)


@server.tool(description="Wait this many seconds, then say so.", annotations=ToolAnnotations(readOnlyHint=True))
async def sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool(description="End the server process at once.")
def crash() -> str:
    os._exit(3)


@server.tool(description="A text of `size` characters.", annotations=ToolAnnotations(readOnlyHint=True))
def shout(size: int) -> str:
    return "A" * size


@server.tool(description="Always fails.")
def fail(reason: str = "asked to fail") -> str:
    raise ToolError(reason)


@server.tool(description="The names of this server's environment variables.", annotations=ToolAnnotations(readOnlyHint=True))
def environment() -> str:
    return json.dumps(sorted(os.environ))


@server.tool(description="The value of one environment variable.", annotations=ToolAnnotations(readOnlyHint=True))
def env(name: str) -> str:
    return os.environ.get(name, "")


@server.tool(description="Write `size` bytes to stderr, then answer.")
def flood_stderr(size: int) -> str:
    chunk = b"E" * 65536 + b"\n"
    for _ in range(size // len(chunk) + 1):
        sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()
    return "flooded stderr"


def _pair(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name, value


def _matches(given: str | None, wanted: str) -> bool:
    """given equals wanted, or hashes to it when wanted is sha256:HEX."""
    if given is None:
        return False
    if wanted.startswith("sha256:"):
        return hashlib.sha256(given.encode()).hexdigest() == wanted.removeprefix("sha256:")
    return given == wanted


def _redirecting(location: str):
    async def redirect(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location.encode())]})
            await send({"type": "http.response.body", "body": b""})

    return redirect


def _recording(app, path: str):
    async def record(scope, receive, send):
        if scope["type"] == "http":
            with open(path, "a") as out:
                out.write(json.dumps({k.decode(): v.decode(errors="replace") for k, v in scope["headers"]}) + "\n")
        await app(scope, receive, send)

    return record


def _guarded(app, header: tuple[str, str]):
    """The ASGI app, answering 401 to a request without the header."""
    name = header[0].lower().encode()

    async def guarded(scope, receive, send):
        given = next((v.decode(errors="replace") for k, v in scope.get("headers", []) if k == name), None)
        if scope["type"] == "http" and not _matches(given, header[1]):
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"missing or wrong credentials"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, help="serve Streamable HTTP on this port instead of stdio")
    parser.add_argument("--require-env", type=_pair)
    parser.add_argument("--require-header", type=_pair)
    parser.add_argument("--leak-env")
    parser.add_argument("--exit-at-start", type=int)
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--wait-while", type=Path)
    parser.add_argument("--flood-stdout-at-start", type=int)
    parser.add_argument("--redirect-to")
    parser.add_argument("--record-headers")
    parser.add_argument("--dump-env")
    args = parser.parse_args()
    if os.environ.get("SCRIPTED_STARTS_FILE"):
        with open(os.environ["SCRIPTED_STARTS_FILE"], "a") as out:
            out.write(f"{os.getpid()}\n")
    if args.dump_env:
        with open(args.dump_env, "w") as out:
            json.dump(dict(os.environ), out)
    if args.leak_env:
        print(f"scripted: starting with {args.leak_env}={os.environ.get(args.leak_env, '')}", file=sys.stderr, flush=True)
    if args.exit_at_start is not None:
        print(f"scripted: told to exit with {args.exit_at_start}", file=sys.stderr, flush=True)
        raise SystemExit(args.exit_at_start)
    if args.hang_at_start:
        while True:
            time.sleep(3600)
    while args.wait_while is not None and args.wait_while.exists():
        time.sleep(0.05)
    if args.flood_stdout_at_start:
        for _ in range(args.flood_stdout_at_start // 65536 + 1):
            sys.stdout.buffer.write(b"{" * 65536)  # before the SDK takes fd 1 for itself
        sys.stdout.buffer.flush()
    if args.require_env and not _matches(os.environ.get(args.require_env[0]), args.require_env[1]):
        print(f"scripted: {args.require_env[0]} is missing or wrong; refusing to start", file=sys.stderr)
        raise SystemExit(2)
    if args.http is None:
        server.run("stdio")
        return
    import uvicorn

    app = _redirecting(args.redirect_to) if args.redirect_to else server.streamable_http_app()
    if args.require_header:
        app = _guarded(app, args.require_header)
    if args.record_headers:
        app = _recording(app, args.record_headers)
    uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")


if __name__ == "__main__":
    main()
