"""The worker's metrics port: a small HTTP server on the worker's own event loop, for /metrics and /health.

Not uvicorn: uvicorn takes over SIGTERM, which procrastinate needs for its drain. Not
prometheus_client's thread server either: queue figures are read with the worker's async engine.
"""

from __future__ import annotations

import asyncio
import logging
import os

from prometheus_client import CONTENT_TYPE_LATEST

from soma.observability import metrics
from soma.observability.queues import QueueSampler

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0  # seconds a client gets to send its request line and headers
MAX_HEAD = 16 * 1024  # bytes of request line and headers accepted


async def start(
    host: str, port: int, queues: QueueSampler, process: str = "worker", setting: str = "SOMA_WORKER_METRICS_PORT"
) -> asyncio.Server | None:
    """Listen on host:port, or warn and return None when that address is taken; the caller closes the server.

    A taken port does not stop the process: its work matters more than its metrics, and several
    may share one machine. The warning names `process` and the `setting` that moves the port.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, content_type, body = await _answer(head, queues)
            writer.write(_response(status, content_type, body, with_body=not head.startswith(b"HEAD ")))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass  # a client that went away or sent no request gets nothing
        finally:
            writer.close()

    try:
        return await asyncio.start_server(handle, host, port, limit=MAX_HEAD)
    except OSError as exc:
        log.warning(
            "%s metrics not served: cannot listen on %s:%d (%s). Set %s to a free port, or 0.",
            process,
            host,
            port,
            os.strerror(exc.errno) if exc.errno else exc,
            setting,
        )
        return None


async def _answer(head: bytes, queues: QueueSampler) -> tuple[str, str, bytes]:
    """Status line text, content type and body for one request head."""
    method, _, rest = head.partition(b" ")
    path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return "405 Method Not Allowed", "text/plain; charset=utf-8", b"Only GET and HEAD.\n"
    if path == b"/metrics":
        await queues.refresh()
        return "200 OK", CONTENT_TYPE_LATEST, metrics.render()
    if path == b"/health":
        return "200 OK", "application/json", b'{"status":"ok"}'
    return "404 Not Found", "text/plain; charset=utf-8", b"Try /metrics or /health.\n"


def _response(status: str, content_type: str, body: bytes, with_body: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + (body if with_body else b"")
