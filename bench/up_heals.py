"""How fast `soma up` heals: each child killed with SIGKILL, against a full warm start of `soma up`.

Run from the repository root:

    .venv/bin/python -m bench.up_heals [--kills 3]

It starts `soma up` (scripted SLM) on a new data directory, measures one warm start as the baseline,
then kills each child `--kills` times and times, from the SIGKILL:
"ready"   /ready answers 200 "ready" again (every child up; polled every 20 ms);
"answer"  a message posted at the moment of the kill has its `assistant.message` (posting is retried
          while the gateway is down), i.e. how long a user who wrote just then waits.
Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import startup, stats  # noqa: E402
from tests import procs  # noqa: E402
from tests.acceptance import up  # noqa: E402

CHILDREN = ("worker", "gateway", "tunnel", "postgres")
HEADERS = {"Authorization": f"Bearer {startup.ADMIN_KEY}"}


def all_ready(url: str, deadline: float) -> None:
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url + "/ready").json().get("status") == "ready":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.02)
    raise SystemExit("soma up did not heal in time")


def post_until_accepted(client: httpx.Client, session: str, text: str) -> None:
    deadline = time.monotonic() + startup.TIMEOUT
    while time.monotonic() < deadline:
        try:
            if client.post(f"/v1/sessions/{session}/messages", json={"content": text}).status_code == 202:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise SystemExit("the message was never accepted")


def answered(client: httpx.Client, session: str, count: int) -> bool:
    try:
        messages = client.get(f"/v1/sessions/{session}/messages").json()["messages"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return sum(m["role"] == "assistant" for m in messages) >= count


def kill_once(soma_up: psutil.Process, data_dir: Path, url: str, name: str, session: str, turn: int) -> tuple[float, float]:
    """Seconds from the SIGKILL to ready again, and to the answer of a message posted at the kill."""
    old = up.child_pid(soma_up, data_dir, name)
    killed = time.monotonic()
    psutil.Process(old).send_signal(signal.SIGKILL)
    with httpx.Client(base_url=url, timeout=10, headers=HEADERS) as client:
        post_until_accepted(client, session, f"message {turn}")
        procs.wait_until(lambda: answered(client, session, turn), startup.TIMEOUT, "the answer", interval=0.02)
        answer = time.monotonic() - killed
    procs.wait_until(lambda: up.child_pid(soma_up, data_dir, name) not in (None, old), 60, f"a new {name}", interval=0.02)
    all_ready(url, killed + startup.TIMEOUT)
    return time.monotonic() - killed, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3, help="kills of each child (default 3)")
    args = parser.parse_args(argv)
    launcher = procs.Launcher(Path(tempfile.mkdtemp(prefix="soma-bench-logs-")))
    data_dir = startup.new_data_dir()
    try:
        slm = procs.start_scripted_slm(launcher)
        startup.one_run(data_dir, slm)  # the cold start: initdb and migrations, not measured
        warm_ready, warm_turn, _ = startup.one_run(data_dir, slm)
        proc, url, began, lines = startup.start(data_dir, slm)
        startup.wait_ready(proc, url, began, lines)
        soma_up = psutil.Process(proc.pid)
        with httpx.Client(base_url=url, timeout=10, headers=HEADERS) as client:
            session = client.post("/v1/sessions", json={}).json()["id"]
        figures: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CHILDREN}
        turn = 0
        for _ in range(args.kills):
            for name in CHILDREN:
                all_ready(url, time.monotonic() + startup.TIMEOUT)
                turn += 1
                ready, answer = kill_once(soma_up, data_dir, url, name, session, turn)
                figures[name][0].append(ready)
                figures[name][1].append(answer)
        startup.stop(proc)
        print(f"soma up healing, {args.kills} SIGKILLs per child, seconds (median, max); scripted SLM")
        print(f"baseline: a warm start of the whole of soma up: ready {warm_ready:.2f}, first answer {warm_turn:.2f}")
        print(f"{'child':<10} {'ready again':>16} {'answer':>16} {'ready / warm start':>20}")
        for name, (ready, answer) in figures.items():
            ratio = stats.median(ready) / warm_ready
            print(f"{name:<10} {stats.median(ready):7.2f} {max(ready):7.2f}  {stats.median(answer):7.2f} {max(answer):7.2f} {ratio:19.2f}x")
    finally:
        launcher.stop_all()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
