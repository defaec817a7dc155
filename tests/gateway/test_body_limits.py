"""Bodies bounded however they arrive: a declared length or a chunked stream, refused with 413 `request_too_large` at the limit.

In-process for the shapes and the routes; one real gateway process for the memory a 50 MB chunked
login body costs it (docs/security.md, "The public door").
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import psutil
import psycopg

from soma.db import url as db_url
from soma.gateway import limits
from tests import procs
from tests.conftest import ADMIN_KEY, client_of

CHUNK = 64 * 1024  # bytes per chunk sent
MB = 1024 * 1024


def _limit(settings) -> int:
    return limits.max_body_bytes(settings.max_message_chars)


def _too_large(settings) -> dict:
    message = f"The request body is larger than the limit of {_limit(settings)} bytes. Send a shorter message, or raise SOMA_MAX_MESSAGE_CHARS."
    return {"error": {"code": "request_too_large", "message": message}}


async def _chunks(head: bytes, size: int, tail: bytes = b"") -> AsyncIterator[bytes]:
    """A body of about `size` bytes in CHUNK pieces, with no Content-Length: httpx sends it chunked."""
    yield head
    for _ in range(size // CHUNK):
        yield b"x" * CHUNK
    yield tail


async def test_a_chunked_login_body_over_the_limit_is_413_request_too_large(gateway, settings) -> None:
    async with client_of(gateway) as stranger:
        response = await stranger.post("/v1/auth/login", content=_chunks(b'{"username": "ann", "password": "', 2 * _limit(settings), b'"}'))

    assert "content-length" not in response.request.headers and response.request.headers["transfer-encoding"] == "chunked"
    assert (response.status_code, response.json()) == (413, _too_large(settings))


async def test_a_chunked_body_within_the_limit_is_read_as_usual(gateway) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b'{"username": "ann", ', b'"password": "a wrong ', b'guess"}'):
            yield piece

    async with client_of(gateway) as stranger:
        response = await stranger.post("/v1/auth/login", content=pieces(), headers={"content-type": "application/json"})

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert (response.status_code, response.json()["error"]["code"]) == (401, "login_failed")  # read whole and checked


async def test_a_chunked_message_over_the_limit_stores_nothing(api, settings, database_url) -> None:
    session = (await api.post("/v1/sessions")).json()

    response = await api.post(
        f"/v1/sessions/{session['id']}/messages", content=_chunks(b'{"content": "', _limit(settings) + CHUNK, b'"}'),
        headers={"content-type": "application/json"},
    )  # fmt: skip

    assert (response.status_code, response.json()) == (413, _too_large(settings))
    with psycopg.connect(db_url.for_libpq(database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(api, settings) -> None:
    response = await api.post("/v1/sessions", content=b"x" * (_limit(settings) + 1), headers={"content-type": "application/json"})

    message = f"The request body has {_limit(settings) + 1} bytes; the limit is {_limit(settings)}. Send a shorter message, or raise SOMA_MAX_MESSAGE_CHARS."
    assert (response.status_code, response.json()) == (413, {"error": {"code": "request_too_large", "message": message}})


async def test_on_the_openai_routes_the_413_takes_openais_shape(api, settings) -> None:
    response = await api.post("/v1/chat/completions", content=_chunks(b'{"model": "soma", "messages": "', 2 * _limit(settings), b'"}'))

    assert response.status_code == 413
    assert response.json() == {
        "error": {"message": _too_large(settings)["error"]["message"], "type": "invalid_request_error", "param": None, "code": "request_too_large"}
    }


def test_a_50_mb_chunked_login_body_is_refused_without_the_gateway_holding_it(launcher, database_url) -> None:
    port = procs.free_port()
    gateway = launcher.soma("gateway", procs.soma_env(database_url, port=port, bootstrap_admin_key=ADMIN_KEY, slm_api_key="test-key"))
    base = f"http://127.0.0.1:{port}"
    procs.wait_healthy(base, gateway)
    process = psutil.Process(gateway.popen.pid)
    with httpx.Client(base_url=base, timeout=120) as client:
        assert _post_chunked(client, MB).status_code == 413  # the refusal's own code and buffers, loaded once
        baseline = process.memory_info().rss
        with _peak_rss(process) as peak:
            refused = _post_chunked(client, 50 * MB)
        assert (refused.status_code, refused.json()["error"]["code"]) == (413, "request_too_large")
        assert client.get("/health").status_code == 200
    grown = max(peak) - baseline
    assert grown < 20 * MB, f"the gateway's RSS grew by {grown / MB:.1f} MB"


def _post_chunked(client: httpx.Client, size: int) -> httpx.Response:
    def body() -> Iterator[bytes]:
        yield b'{"username": "ann", "password": "'
        for _ in range(size // CHUNK):
            yield b"x" * CHUNK
        yield b'"}'

    return client.post("/v1/auth/login", content=body(), headers={"content-type": "application/json"})


class _peak_rss:
    """Samples the process's RSS while the block runs; the samples, for max()."""

    INTERVAL = 0.005  # seconds between samples: a measurement, not a wait for an event

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.samples: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.wait(self.INTERVAL):
            self.samples.append(self.process.memory_info().rss)

    def __enter__(self) -> list[int]:
        self.samples.append(self.process.memory_info().rss)
        self.thread.start()
        return self.samples

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self.samples.append(self.process.memory_info().rss)
