"""Starting `soma sandbox` as a real process for tests, and running code through it with the real client.

The `sandbox` fixture (tests/conftest.py) is one service per test process; `start()` starts another
for a test that needs its own settings (no bwrap on PATH, a pod's uid). Every service started here
carries SECRET in its environment, so a test can prove that nothing of the service's environment
reaches the code.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from dataclasses import dataclass, field

import httpx

from soma.sandbox import client, protocol
from tests import procs

SECRET = "sandbox-test-secret-" + secrets.token_hex(8)  # in every test service's environment, never in a jail's


@dataclass
class Service:
    """A running `soma sandbox`: its URL and key, and the process."""

    url: str
    key: str
    proc: procs.Proc

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def client(self) -> client.Sandbox:
        return client.Sandbox(self.url, self.key)


@dataclass
class Ran:
    """One run's outputs, joined per stream, and its result."""

    stdout: str
    stderr: str
    result: protocol.Result
    outputs: list[protocol.Output] = field(default_factory=list)


def environment(**overrides: str) -> dict[str, str]:
    """The service's environment: this process's without SOMA_*, with SECRET, a key and the overrides (SOMA_ names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
    env.update(SANDBOX_TEST_SECRET=SECRET, SOMA_SANDBOX_KEY=secrets.token_hex(32), SOMA_LOG_LEVEL="INFO")
    env.update(overrides)
    return env


def start(launcher: procs.Launcher, env: dict[str, str] | None = None, argv_prefix: list[str] | None = None) -> Service:
    """Start `soma sandbox` on a free port and wait until it serves."""
    env = env or environment()
    port = procs.free_port()
    env = {**env, "SOMA_SANDBOX_PORT": str(port)}
    argv = [*(argv_prefix or []), sys.executable, "-m", "soma", "sandbox"]
    proc = launcher.start("sandbox", argv, env)
    service = Service(f"http://127.0.0.1:{port}", env["SOMA_SANDBOX_KEY"], proc)
    procs.wait_until(lambda: _ready(proc), 60, "the sandbox to serve")
    return service


def _ready(proc: procs.Proc) -> bool:
    assert proc.alive(), f"the sandbox exited:\n{proc.output()}"
    return "Uvicorn running on" in proc.output()


async def run(service: Service, language: str, code: str, **fields) -> Ran:
    """Run code through the client to its result."""
    outputs: list[protocol.Output] = []
    result = None
    async for event in service.client().run(protocol.RunRequest(language, code, **fields)):
        if isinstance(event, protocol.Output):
            outputs.append(event)
        else:
            result = event
    assert result is not None
    joined = {name: "".join(o.text for o in outputs if o.stream == name) for name in protocol.STREAMS}
    return Ran(joined["stdout"], joined["stderr"], result, outputs)


async def still_serves(service: Service) -> None:
    """The service answers /health and runs code: whatever the last run did, it is not the last."""
    async with httpx.AsyncClient() as http:
        assert (await http.get(service.url + "/health")).json() == {"ok": True}
    ran = await run(service, "python", "print('still here')")
    assert (ran.stdout, ran.result.exit_code) == ("still here\n", 0)


def running(service: Service, marker: str) -> list[str]:
    """The command lines, with `marker` in them, of processes still running under the service: a jail's, if it outlived its run.

    A run's processes are found by a marker in their arguments, so those of another test's run,
    being killed as this one looks, are never taken for them.
    """
    import psutil

    found = []
    for child in psutil.Process(service.proc.popen.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            line = " ".join(child.cmdline())
            if marker in line:
                found.append(line)
    return found
