"""A fresh machine: `soma` processes starting together make the embedded server's system user once, and all start."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from soma.db import embedded, system_user
from tests import procs

PROCESSES = 3  # as many as `make test` starts test processes at once on two cores


def _accounts(path: str, name: str) -> list[str]:
    """The lines of /etc/passwd (or /etc/group) that name `name`: read as written, not through a cache."""
    return [line for line in Path(path).read_text().splitlines() if line.split(":")[0] == name]


def _waiting_for_a_lock() -> set[int]:
    """The pids blocked on a file lock right now (the kernel's "->" lines in /proc/locks)."""
    lines = Path("/proc/locks").read_text().splitlines()
    return {int(line.split()[5]) for line in lines if line.split()[1] == "->"}


@contextlib.contextmanager
def _lock_held() -> Iterator[None]:
    """Hold the lock every Soma process takes to create the user, so they all find the user missing and queue."""
    with system_user.LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def test_processes_starting_together_without_the_system_user_make_it_once_and_all_start(launcher) -> None:
    user = f"soma_t{secrets.token_hex(4)}"  # this test's own: it does not exist yet
    assert _accounts("/etc/passwd", user) == []
    root = os.geteuid() == 0
    data_dirs = [Path(tempfile.mkdtemp(prefix="soma-test-first-start-")) for _ in range(PROCESSES)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
    try:
        for data_dir in data_dirs:
            data_dir.chmod(0o755)  # not under pytest's 0700 temp tree: the server runs as the new user
        # Released only once every process waits for it: all of them looked for the user at the same time.
        with _lock_held() if root else contextlib.nullcontext():
            started = [
                launcher.start("migrate", [sys.executable, "-m", "soma", "migrate"],
                               {**env, "SOMA_DATA_DIR": str(data_dir), "SOMA_EMBEDDED_POSTGRES_USER": user})
                for data_dir in data_dirs
            ]  # fmt: skip
            pids = {proc.popen.pid for proc in started}
            if root:
                procs.wait_until(lambda: pids <= _waiting_for_a_lock(), 120, "every process to wait for the lock")
        codes = [proc.wait(180) for proc in started]

        assert codes == [0] * PROCESSES, "\n\n".join(proc.output()[-2000:] for proc in started)
        owners = {embedded.pgdata(data_dir).stat().st_uid for data_dir in data_dirs}
        if root:
            [account] = _accounts("/etc/passwd", user)  # one line: not made twice with two uids
            uid = int(account.split(":")[2])
            assert (owners, pwd.getpwnam(user).pw_uid) == ({uid}, uid)
        else:  # no user is made: PostgreSQL runs as whoever runs Soma
            assert (owners, _accounts("/etc/passwd", user)) == ({os.geteuid()}, [])
    finally:
        for data_dir in data_dirs:
            shutil.rmtree(data_dir, ignore_errors=True)
        if _accounts("/etc/passwd", user):
            subprocess.run(["userdel", user], check=True, capture_output=True)
        if _accounts("/etc/group", user):  # userdel removes the user's own group only where login.defs says so
            subprocess.run(["groupdel", user], check=True, capture_output=True)
