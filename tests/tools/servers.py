"""Tool servers for the tests: the scripted MCP server (tests/mcp_servers/scripted.py) over stdio and over HTTP."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from typing import Any

from tests import procs

SCRIPTED = str(procs.ROOT / "tests" / "mcp_servers" / "scripted.py")


def stdio_entry(*flags: str, env: dict[str, str] | None = None, **limits: Any) -> dict[str, Any]:
    """The mcpServers entry that runs the scripted server over stdio with these flags."""
    return {"command": sys.executable, "args": [SCRIPTED, *flags], "env": env or {}, **limits}


@dataclass
class HttpServer:
    """The scripted server over Streamable HTTP."""

    url: str
    proc: procs.Proc


def start_http(launcher: procs.Launcher, *flags: str, env: dict[str, str] | None = None) -> HttpServer:
    """Start it on a free port and wait until the port takes connections."""
    port = procs.free_port()
    proc = launcher.start("mcp-http", [sys.executable, SCRIPTED, "--http", str(port), *flags], env or {})

    def listening() -> bool:
        assert proc.alive(), proc.output()
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    procs.wait_until(listening, 20, "the scripted MCP server to listen")
    return HttpServer(f"http://127.0.0.1:{port}/mcp", proc)
