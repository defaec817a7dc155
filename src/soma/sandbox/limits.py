"""What a run may use: its rlimits, and the slots that bound how many runs jail at once, each as a host uid of its own.

The rlimits are set by the jail's init on the code's process before exec (soma.sandbox.inside), so
they bind the code and everything it starts, and it cannot raise them (no capability). The kernel
does not count processes of host uid 0 against RLIMIT_NPROC, and a jail whose uid maps to host root
could read root's files wherever they are bound, so a service running as root starts each jail as
SLOT_UID_BASE + its slot: a uid nothing on the host belongs to, and a different one for every run at
the same time. A service running as another user (a pod's 10001) starts jails as itself, which is
unprivileged already.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from soma.sandbox import cgroups, jail, protocol

PROCESSES = 64  # processes and threads the code may have at once
JAIL_PROCESSES = 4  # bwrap's own, counted in a run's cgroup beside the code's
OPEN_FILES = 1024
CPU_GRACE = 1  # seconds of CPU past the wall-clock timeout before the kernel stops a process itself
SLOT_UID_BASE = 1_600_000_000  # host uids of jails started by root: far above any account's or container's range


def rlimits(request: protocol.RunRequest) -> dict[str, list[int]]:
    """The rlimits of a run's code, by resource name, as [soft, hard]."""
    memory = request.memory_mb * protocol.MiB
    largest_file = max(request.workspace_mb * protocol.MiB, jail.TMP_BYTES)
    cpu = request.timeout_seconds + CPU_GRACE
    return {
        "RLIMIT_AS": [memory, memory],
        "RLIMIT_NPROC": [PROCESSES, PROCESSES],
        "RLIMIT_CPU": [cpu, cpu + 1],  # SIGXCPU at the soft limit, SIGKILL at the hard
        "RLIMIT_FSIZE": [largest_file, largest_file],
        "RLIMIT_NOFILE": [OPEN_FILES, OPEN_FILES],
        "RLIMIT_CORE": [0, 0],
    }


def cgroup_memory(request: protocol.RunRequest) -> int:
    """Bytes a run's cgroup may hold: the code's memory, and its tmpfs pages (workspace, /tmp, /dev/shm), charged to it too."""
    return request.memory_mb * protocol.MiB + request.workspace_mb * protocol.MiB + jail.TMP_BYTES + jail.SHM_BYTES


@dataclass(frozen=True)
class Slot:
    """One run's place: its number, the host uid its jail runs as (None: this process's), the cgroups when delegated."""

    number: int
    uid: int | None
    cgroups: cgroups.Cgroups | None


CAP_SETGID, CAP_SETUID = 6, 7  # capability numbers (capability.h)


def identity_problem(status: Path = Path("/proc/self/status")) -> str | None:
    """Why jails cannot get an unprivileged host uid from this process, or None.

    Root without CAP_SETUID and CAP_SETGID (a container that dropped them) cannot start a jail as
    another uid, and a jail left as host root is the one thing the uid drop exists to prevent.
    """
    if os.geteuid() != 0:
        return None
    effective = next((int(line.split()[1], 16) for line in status.read_text().splitlines() if line.startswith("CapEff:")), 0)
    if effective >> CAP_SETUID & 1 and effective >> CAP_SETGID & 1:
        return None
    return (
        "The sandbox runs as root without CAP_SETUID and CAP_SETGID, so its jails would run as host root:"
        " run it as an unprivileged user (the chart runs it as 10001), or give it those two capabilities."
    )


class Slots:
    """At most `size` runs at once; the others wait their turn. Each run holds a slot, and with it its host uid and cgroup."""

    def __init__(self, size: int, delegated: cgroups.Cgroups | None = None) -> None:
        self.free = list(range(size))
        self.available = asyncio.Semaphore(size)
        self.uid_per_run = os.geteuid() == 0
        self.cgroups = delegated

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """A slot for one run, given back when the run is over."""
        async with self.available:
            number = self.free.pop()
            try:
                yield Slot(number, SLOT_UID_BASE + number if self.uid_per_run else None, self.cgroups)
            finally:
                self.free.append(number)
