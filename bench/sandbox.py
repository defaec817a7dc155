"""The sandbox's cost: a run through `soma sandbox` beside the same code run as a plain `python -c` on the host.

Run from the repository root (after `make sandbox`):

    .venv/bin/python -m bench.sandbox [--runs 40] [--concurrency 1,8]

It starts `soma sandbox` as a real process on 127.0.0.1 and times, end to end, runs through the
worker's client (soma.sandbox.client: the request, a fresh jail, the output streamed back, the
result): from the call to the result. Beside each it times the same code as `python -c` with the
sandbox's own Python on the host, in the same run and at the same concurrency, started with
asyncio as the service starts its jails, with the jail's environment variables (one BLAS thread).
The cases are `print(1)` (the jail's fixed cost) and `import pandas` (a real library read from the
read-only environment). Goals (issue 27): `print(1)` at most GOAL_OVERHEAD_MS above the host's, p50;
`import pandas` at most GOAL_RATIO times the host's, p50. It prints figures and the machine's load
average; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from soma import config  # noqa: E402
from soma.sandbox import client, jail, protocol, python_env  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

CASES = {"print(1)": "print(1)", "import pandas": "import pandas"}
GOAL_OVERHEAD_MS = 100.0  # print(1): the sandbox's p50 less the host's, at concurrency 1
GOAL_RATIO = 1.5  # import pandas: the sandbox's p50 over the host's, at concurrency 1
START_TIMEOUT = 60.0  # seconds for the service to serve


def start_service(python: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`soma sandbox` on a free port with a new key; returns (process, url, key) once it serves."""
    key, port = secrets.token_hex(32), procs.free_port()
    env = {**config.tool_server_environment(), "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT / "src")),
           "SOMA_SANDBOX_KEY": key, "SOMA_SANDBOX_PORT": str(port), "SOMA_SANDBOX_PYTHON": str(python),
           "SOMA_LOG_LEVEL": "WARNING"}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "soma", "sandbox"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("soma sandbox exited; its output is above")
        try:
            if httpx.get(url + "/v1/check", headers={"Authorization": f"Bearer {key}"}, timeout=30).json() == {"ok": True}:
                return process, url, key
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("soma sandbox did not serve in time")


async def in_sandbox(sandbox: client.Sandbox, code: str) -> float:
    """Seconds from the call to the result of one run; fails on a run that does not exit 0."""
    began = time.monotonic()
    async for event in sandbox.run(protocol.RunRequest("python", code)):
        if isinstance(event, protocol.Result):
            if event.exit_code != 0:
                raise SystemExit(f"the run of {code!r} ended with {event}")
    return time.monotonic() - began


async def on_host(python: Path, code: str, env: dict[str, str], cwd: str) -> float:
    """Seconds for `python -c code` on the host, started and awaited as the service does its jails."""
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(str(python), "-c", code, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE)
    await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"python -c {code!r} on the host exited with {process.returncode}")
    return time.monotonic() - began


async def timed(run, runs: int, concurrency: int) -> list[float]:
    """`runs` timings of run(), `concurrency` at a time."""
    timings: list[float] = []
    left = iter(range(runs))

    async def lane() -> None:
        for _ in left:
            timings.append(await run())

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return timings


async def measure(url: str, key: str, python: Path, runs: int, levels: list[int]) -> None:
    sandbox = client.Sandbox(url, key)
    found = python_env.locate(python)
    assert isinstance(found, python_env.PythonEnv), found
    env = jail.environment(jail.Layout("bwrap", found, "/bin/sh"), "python")
    env["PATH"] = f"{python.parent}:/usr/local/bin:/usr/bin:/bin"
    table = stats.Table(("case", "<15", ""), ("at once", ">8", ""), ("  where", "<10", ""), ("p50 ms", ">9", ".1f"),
                        ("p99 ms", ">9", ".1f"), ("runs/s", ">8", ".1f"))  # fmt: skip
    print(table.heading())
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="soma-bench-sandbox-") as cwd:
        env.update(HOME=cwd, TMPDIR=cwd, MPLCONFIGDIR=cwd)
        for name, code in CASES.items():
            for level in levels:
                await timed(lambda: in_sandbox(sandbox, code), level, level)  # warm: the page cache, the service's first run
                figures = {}
                for where, run in (("host", lambda: on_host(python, code, env, cwd)), ("sandbox", lambda: in_sandbox(sandbox, code))):
                    began = time.monotonic()
                    values = [t * 1000 for t in await timed(run, runs, level)]
                    figures[where] = values
                    rate = runs / (time.monotonic() - began)
                    print(table.row(name, level, "  " + where, stats.percentile(values, 50), stats.percentile(values, 99), rate))
                host, jailed = stats.percentile(figures["host"], 50), stats.percentile(figures["sandbox"], 50)
                print(f"{'':33}overhead p50 {jailed - host:.1f} ms, ratio {jailed / host:.2f}")
                if level == 1:
                    verdicts.append(_verdict(name, host, jailed))
    print("\n".join(verdicts))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


def _verdict(name: str, host: float, jailed: float) -> str:
    if name == "print(1)":
        met = jailed - host <= GOAL_OVERHEAD_MS
        return f"goal print(1): overhead p50 {jailed - host:.1f} ms ≤ {GOAL_OVERHEAD_MS:.0f} ms: {'met' if met else 'NOT met'}"
    met = jailed / host <= GOAL_RATIO
    return f"goal {name}: p50 {jailed / host:.2f}× the host's ≤ {GOAL_RATIO}×: {'met' if met else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timed runs per case, place and concurrency")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated numbers of runs at once")
    args = parser.parse_args()
    python = config.Settings(_env_file=None).sandbox_python
    process, url, key = start_service(python)
    try:
        asyncio.run(measure(url, key, python, args.runs, [int(n) for n in args.concurrency.split(",")]))
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
