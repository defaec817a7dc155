"""An MCP tool server for the tests, written with the official SDK: tools with effects a test can count.

    python tests/mcp_servers/scripted.py                      # stdio
    python tests/mcp_servers/scripted.py --http PORT          # Streamable HTTP on 127.0.0.1:PORT/mcp
    --require-env NAME=VALUE     refuse to start unless the environment has it (a secret reference resolved)
    --require-header NAME=VALUE  (HTTP) answer 401 to any request without it

Tools: `append` writes a line to the file named by SCRIPTED_APPEND_FILE (not safe to repeat);
`read_lines` reads it (readOnlyHint); `add` (idempotentHint); `sleep` waits (a hanging server);
`crash` ends the process (a server that dies); `shout` returns `size` characters (the output cap);
`fail` returns an MCP tool error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

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


def _pair(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name, value


def _guarded(app, header: tuple[str, str]):
    """The ASGI app, answering 401 to a request without the header."""
    wanted = (header[0].lower().encode(), header[1].encode())

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and wanted not in scope["headers"]:
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
    args = parser.parse_args()
    if args.require_env and os.environ.get(args.require_env[0]) != args.require_env[1]:
        print(f"scripted: {args.require_env[0]} is missing or wrong; refusing to start", file=sys.stderr)
        raise SystemExit(2)
    if args.http is None:
        server.run("stdio")
        return
    import uvicorn

    app = server.streamable_http_app()
    if args.require_header:
        app = _guarded(app, args.require_header)
    uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")


if __name__ == "__main__":
    main()
