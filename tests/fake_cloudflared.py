#!/usr/bin/env python3
"""A stand-in for cloudflared: the same command line, TUNNEL_TOKEN and log lines, a --metrics /ready, crashes on demand.

    fake_cloudflared.py tunnel [--no-autoupdate] [--metrics HOST:PORT] run        (token in TUNNEL_TOKEN)
    fake_cloudflared.py tunnel [--no-autoupdate] [--metrics HOST:PORT] --url URL  (a quick tunnel)

Tests steer it through the environment:
- FAKE_CLOUDFLARED_RECORD: a file to which each run appends JSON lines: {"event": "start", "pid", "argv",
  "token"} and {"event": "exit", "pid", "code"}, so a test sees which token each run got.
- FAKE_CLOUDFLARED_CRASH_FILE: while this file exists, a run exits 1 after the seconds written in it
  (default 0.2), before registering any connection.
Standard library only: it runs with whichever python3 is on PATH.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONNECTIONS = 4  # cloudflared opens four connections to two edge locations
REGISTER_DELAY = 0.2  # seconds from start to the first registered connection
STATUS = {"ready": 0, "connector": str(uuid.uuid4())}


def make_token(secret: str, tunnel_id: str = "6f7e2c9a-0d4b-4b8e-9a51-2c3d4e5f6a7b") -> str:
    """A token shaped like Cloudflare's: base64 of {"a": account tag, "t": tunnel id, "s": secret}."""
    body = {"a": "0123456789abcdef0123456789abcdef", "t": tunnel_id, "s": base64.b64encode(secret.encode()).decode()}
    return base64.b64encode(json.dumps(body).encode()).decode()


def log(level: str, message: str) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stderr.write(f"{now} {level} {message}\n")
    sys.stderr.flush()


def record(event: dict) -> None:
    path = os.environ.get("FAKE_CLOUDFLARED_RECORD")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({**event, "pid": os.getpid()}) + "\n")


def finish(code: int) -> None:
    record({"event": "exit", "code": code})
    sys.stderr.flush()
    os._exit(code)


class Ready(BaseHTTPRequestHandler):
    """cloudflared's metrics server: /ready is 200 once a connection is registered, else 503."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/ready":
            ready = STATUS["ready"]
            body = json.dumps({"status": 200 if ready else 503, "readyConnections": ready, "connectorId": STATUS["connector"]})
            self._send(200 if ready else 503, "application/json", body)
        elif self.path == "/metrics":
            self._send(200, "text/plain; version=0.0.4", f"cloudflared_tunnel_ha_connections {STATUS['ready']}\n")
        else:
            self._send(404, "text/plain", "404 page not found\n")

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def parse(argv: list[str]) -> dict:
    if not argv or argv[0] != "tunnel":
        log("ERR", f"fake cloudflared only knows `tunnel`, got {argv!r}")
        finish(2)
    options: dict = {"run": False, "url": None, "metrics": None}
    rest = argv[1:]
    while rest:
        word = rest.pop(0)
        if word == "--no-autoupdate":
            continue
        if word in ("--url", "--metrics"):
            options[word[2:]] = rest.pop(0)
        elif word == "run":
            options["run"] = True
            options["name"] = rest.pop(0) if rest else None
        else:
            log("ERR", f"Incorrect Usage: flag provided but not defined: {word}")
            finish(2)
    return options


def serve_metrics(address: str) -> None:
    host, _, port = address.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log("INF", f"Starting metrics server on {host}:{server.server_address[1]}/metrics")


def tunnel_id(token: str) -> str | None:
    try:
        body = json.loads(base64.b64decode(token, validate=True))
        return str(body["t"]) if {"a", "t", "s"} <= set(body) else None
    except (ValueError, TypeError):
        return None


def crash_if_asked() -> None:
    path = os.environ.get("FAKE_CLOUDFLARED_CRASH_FILE")
    if path and os.path.exists(path):
        with open(path) as f:
            delay = float(f.read().strip() or 0.2)
        time.sleep(delay)
        log("ERR", 'Serve tunnel error error="connection with edge closed" connIndex=0 event=0 ip=198.41.192.7')
        log("ERR", "Couldn't start tunnel error=\"connection with edge closed\"")
        finish(1)


def register(first_lines: list[str]) -> None:
    time.sleep(REGISTER_DELAY)
    for line in first_lines:
        log("INF", line)
    for index in range(CONNECTIONS):
        ip = f"198.41.{192 + 8 * (index % 2)}.{7 + index}"
        log("INF", f"Registered tunnel connection connIndex={index} connection={uuid.uuid4()} event=0 ip={ip} location=ams{index + 1:02d} protocol=quic")
        STATUS["ready"] += 1


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: (log("INF", "Initiating graceful shutdown due to signal terminated ..."), finish(0)))
    signal.signal(signal.SIGINT, lambda *_: (log("INF", "Initiating graceful shutdown due to signal interrupt ..."), finish(0)))
    options = parse(sys.argv[1:])
    token = os.environ.get("TUNNEL_TOKEN")
    record({"event": "start", "argv": sys.argv[1:], "token": token})
    if options["metrics"]:
        serve_metrics(options["metrics"])
    crash_if_asked()
    if options["url"]:
        words = "-".join(uuid.uuid4().hex[i : i + 5] for i in (0, 5, 10, 15))
        url = f"https://{words}.trycloudflare.com"
        log("INF", "Requesting new quick Tunnel on trycloudflare.com...")
        box = [
            "+--------------------------------------------------------------------------------------------+",
            "|  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |",
            f"|  {url:<90}|",
            "+--------------------------------------------------------------------------------------------+",
        ]
        register(box)
    elif options["run"]:
        if not token and not options.get("name"):
            log("ERR", '"cloudflared tunnel run" requires the ID or name of the tunnel to run as the last command line argument or in the configuration file.')
            finish(1)
        found = tunnel_id(token or "")
        if found is None:
            log("ERR", "Provided Tunnel token is not valid.")
            finish(1)
        log("INF", f"Starting tunnel tunnelID={found}")
        register([])
    else:
        log("ERR", "fake cloudflared: give `run` or `--url URL`")
        finish(2)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
