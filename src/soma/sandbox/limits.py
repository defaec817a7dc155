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

from soma.sandbox import jail, protocol

PROCESSES = 64  # processes and threads the code may have at once
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


class Slots:
    """At most `size` runs at once; the others wait their turn. Each run holds a slot, and with it its host uid."""

    def __init__(self, size: int) -> None:
        self.free = list(range(size))
        self.available = asyncio.Semaphore(size)
        self.uid_per_run = os.geteuid() == 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int | None]:
        """A slot for one run: the host uid to start its jail as, or None to start it as this process's own uid."""
        async with self.available:
            number = self.free.pop()
            try:
                yield SLOT_UID_BASE + number if self.uid_per_run else None
            finally:
                self.free.append(number)
