"""One cloudflared child process: its command line and environment, what its log says, and stopping it.

The token travels only in the child's TUNNEL_TOKEN variable: never on the command line (which `ps`
shows every user) and never in Soma's log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import functools
import logging
import os
import re
import signal
import sys

log = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL; cloudflared closes its connections within a second or two
TAIL_LINES = 5  # lines of output kept to explain an exit
REGISTERED = "Registered tunnel connection"  # cloudflared logs this once per edge connection
QUICK_URL = re.compile(r"https://[a-z0-9-]+\.trycloudflare\.com")
LOG_PREFIX = re.compile(r"^\S+Z (?:DBG|INF|WRN|ERR|FTL) ")  # "2024-07-09T08:18:43Z ERR ": kept out of last_error
_PR_SET_PDEATHSIG = 1


def command(binary: str, mode: str, origin: str) -> list[str]:
    """The command line: a named tunnel from its token (`run`), or a quick tunnel to `origin`."""
    if mode == "quick":
        return [binary, "tunnel", "--no-autoupdate", "--url", origin]
    return [binary, "tunnel", "--no-autoupdate", "run"]


def environment(base: dict[str, str], token: str | None) -> dict[str, str]:
    """Soma's environment without its SOMA_* settings (secrets among them), plus TUNNEL_TOKEN for a named tunnel."""
    env = {k: v for k, v in base.items() if not k.startswith("SOMA_") and k != "TUNNEL_TOKEN"}
    if token is not None:
        env["TUNNEL_TOKEN"] = token
    return env


class Cloudflared:
    """A running cloudflared and what its output has said so far."""

    def __init__(self, process: asyncio.subprocess.Process, mode: str) -> None:
        self.process = process
        self.mode = mode
        self.connected = False
        self.public_url: str | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], mode: str) -> Cloudflared:
        """Start it; OSError (e.g. FileNotFoundError) when the binary cannot run."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
        log.info("cloudflared started (pid %d, %s tunnel)", process.pid, "quick" if mode == "quick" else "named")
        return cls(process, mode)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def exit_reason(self) -> str:
        """Why it ended, for last_error: the exit code and its last line of output."""
        code = self.process.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        last = LOG_PREFIX.sub("", self.tail[-1]) if self.tail else "no output"
        return f"cloudflared {how}: {last}"

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            self.tail.append(line)
            log.info("cloudflared: %s", line)
            if REGISTERED in line:
                self.connected = True
            found = QUICK_URL.search(line) if self.mode == "quick" and self.public_url is None else None
            if found and "api.trycloudflare.com" not in found.group(0):
                self.public_url = found.group(0)

    async def wait(self) -> int:
        """Its exit code, once its output is read to the end."""
        code = await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
        return code

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                log.warning("cloudflared (pid %d) ignored SIGTERM for %.0f s: killing it", self.process.pid, grace)
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
        await self.wait()
        log.info("cloudflared stopped (pid %d, exit code %s)", self.process.pid, self.process.returncode)


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when the supervisor dies, so a killed leader leaves no connector behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)
