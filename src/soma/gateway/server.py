"""`soma gateway`'s server: one uvicorn serving the app on its normal listener and on the tunnel's door.

Both listeners feed the same app in the same process; gateway/tunnel_door.py tells their requests
apart by the socket that accepted them. The door is bound before anything else starts, so a
gateway that cannot open it stops at once, naming the setting (docs/security.md, "The public door").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import sys

import uvicorn
from fastapi import FastAPI

from soma import config, errors

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = 5  # seconds for open requests and event streams once SIGTERM arrives
STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start


def run(app: FastAPI, settings: config.Settings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; TunnelDoorUnavailable before serving when the door cannot be opened."""
    door = open_door(settings.tunnel_origin_host, settings.tunnel_origin_port, port)
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            log_config=None,  # uvicorn's lines go through Soma's handler, as text or JSON
            access_log=False,  # the gateway logs one access line per request itself (soma.access)
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
            proxy_headers=False,  # uvicorn would believe any loopback peer's X-Forwarded-For; access.py reads it per SOMA_TRUSTED_PROXIES
        ),
        door,
    )
    try:
        server.run()
    finally:
        if door is not None:
            door.close()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def open_door(host: str, port: int, gateway_port: int) -> socket.socket | None:
    """The tunnel's door, bound and listening on host:port; None when port is 0."""
    if not port:
        return None
    if port == gateway_port:
        raise errors.TunnelDoorUnavailable(f"SOMA_TUNNEL_ORIGIN_PORT={port} is the gateway's own port, and requests are told apart by it.")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        door = socket.socket(family, kind, proto)
    except OSError as exc:
        raise errors.TunnelDoorUnavailable(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).") from exc
    try:
        door.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait for TIME_WAIT
        door.bind(address)
        door.listen()
    except OSError as exc:
        door.close()
        raise errors.TunnelDoorUnavailable(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).") from exc
    return door


class _Server(uvicorn.Server):
    """uvicorn's server, which after its own listener also serves `door` with the same app and shutdown."""

    def __init__(self, config: uvicorn.Config, door: socket.socket | None) -> None:
        super().__init__(config)
        self.door = door

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.door is None or self.should_exit:
            return
        protocol = functools.partial(
            self.config.http_protocol_class, config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        self.servers.append(await asyncio.get_running_loop().create_server(protocol, sock=self.door, backlog=self.config.backlog))
        host, port = self.door.getsockname()[:2]
        log.info("tunnel door open on http://%s:%d: what arrives there is public, counted per Cloudflare visitor", host, port)
