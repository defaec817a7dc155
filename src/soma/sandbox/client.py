"""The worker's client of `soma sandbox`: is a jail possible, and one run streamed as Output events and a Result.

Stopping the iteration of `run()` (a stop in the chat, a cancelled turn) closes the connection, and
the service kills the run with every process it started.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator

import httpx

from soma import errors
from soma.sandbox import protocol

CONNECT_TIMEOUT = 5.0  # seconds to reach the service
CHECK_TIMEOUT = 30.0  # seconds for /v1/check, which runs a jail
# Past the run's own timeout the service still has KILL_GRACE to stop it and send the workspace back;
# and a run may wait this long for a free slot behind others.
QUEUE_ALLOWANCE = 120.0  # seconds


class Sandbox:
    """The sandbox service at `url`, called with `key`."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}

    async def check(self) -> str | None:
        """None when code can run there, else the reason (cause and fix), as one line."""
        try:
            async with _client(httpx.Timeout(CHECK_TIMEOUT, connect=CONNECT_TIMEOUT)) as client:
                response = await client.get(f"{self.url}/v1/check", headers=self.headers)
        except httpx.HTTPError as exc:
            return errors.SandboxUnavailable(f"Cannot reach the sandbox at {self.url} ({_describe(exc)}).").message
        if response.status_code == 401:
            return errors.SandboxKeyRejected().message
        try:
            answer = response.json()
            return None if answer["ok"] is True else str(answer["reason"])
        except (ValueError, KeyError, TypeError):
            return errors.SandboxBroken(f"/v1/check answered {response.status_code}: {response.text[:200]!r}.").message

    async def run(self, request: protocol.RunRequest) -> AsyncIterator[protocol.Output | protocol.Result]:
        """The run's output as it comes, then its Result; errors.Sandbox* when the service cannot be used."""
        read = request.timeout_seconds + protocol.KILL_GRACE + QUEUE_ALLOWANCE
        timeout = httpx.Timeout(CONNECT_TIMEOUT, read=read)
        result = None
        try:
            async with _client(timeout) as client:
                body = protocol.request_document(request)
                async with client.stream("POST", f"{self.url}/v1/runs", json=body, headers=self.headers) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise _refusal(response)
                    async for line in response.aiter_lines():
                        if not line:
                            continue
                        try:
                            event = protocol.parse_event(json.loads(line))
                        except ValueError:
                            raise errors.SandboxBroken(f"A line of its answer is not JSON: {line[:200]!r}.") from None
                        if isinstance(event, protocol.Result):
                            result = event
                        yield event
        except httpx.HTTPError as exc:
            raise errors.SandboxUnavailable(f"The sandbox at {self.url} failed mid-run ({_describe(exc)}).") from exc
        if result is None:
            raise errors.SandboxBroken("Its answer ended without a result.")


def _client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    """A client for one call; the TLS context is made once (loading the CA bundle took 20 ms per client)."""
    return httpx.AsyncClient(timeout=timeout, verify=_tls())


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def _refusal(response: httpx.Response) -> errors.SomaError:
    """The service's 4xx or 5xx as the error it names (its message already carries the fix)."""
    if response.status_code == 401:
        return errors.SandboxKeyRejected()
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return errors.SandboxBroken(f"It answered {response.status_code}: {response.text[:200]!r}.")
    for kind in (errors.RunRequestInvalid, errors.RunRequestTooLarge):
        if code == kind.code:
            return kind(message.removesuffix(" " + (kind.__doc__ or "").strip()))
    return errors.SandboxBroken(f"It answered {response.status_code}: {message}")


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
