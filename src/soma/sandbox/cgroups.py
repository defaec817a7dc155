"""cgroup v2 for the jails, where the machine delegates one to the service: a cgroup per slot with memory.max and pids.max.

rlimits apply to every run whatever this finds (soma.sandbox.limits, and the init's memory
watchdog); a cgroup adds what they cannot: one bound on all of a run's memory, the tmpfs pages it
writes included, and on all its processes, counted by the kernel. It is used only when the service
may write its own cgroup: under systemd with `Delegate=yes`, or in a container given its cgroup
read-write. Then the service moves itself into a leaf (`service`), since a cgroup whose children
have controllers may hold no process, enables memory and pids for its children, and makes one
`run-<slot>` child per slot. Anything refused on the way means rlimits only, said once in the log;
a run whose cgroup cannot be prepared runs without one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
OWN = Path("/proc/self/cgroup")
NEEDED = {"memory", "pids"}


class Cgroups:
    """The service's delegated cgroup, under which each slot's runs get theirs."""

    def __init__(self, base: Path) -> None:
        self.base = base

    @classmethod
    def find(cls, mountinfo: Path = MOUNTINFO, own: Path = OWN, pid: int | None = None) -> tuple[Cgroups | None, str]:
        """The delegated cgroup, set up for jails, or None; and one line saying which, for the log."""
        mount = _cgroup2_mount(mountinfo)
        path = next((line[3:] for line in _lines(own) if line.startswith("0::")), None)
        if mount is None or path is None:
            return None, "no cgroup v2 here: rlimits only"
        base = mount / path.lstrip("/")
        offered = set(_read(base / "cgroup.controllers").split())
        if not NEEDED <= offered:
            return None, f"the service's cgroup {base} offers no {' and '.join(sorted(NEEDED - offered))} controller: rlimits only"
        try:
            (base / "service").mkdir(exist_ok=True)
            (base / "service" / "cgroup.procs").write_text(str(pid or os.getpid()))
            (base / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in sorted(NEEDED)))
        except OSError as exc:
            return None, f"the service's cgroup {base} is not delegated to it ({exc.strerror or exc}): rlimits only"
        return cls(base), f"each run in a cgroup of its own under {base} (memory.max, pids.max), and rlimits"

    def prepare(self, slot: int, memory: int, processes: int) -> Path | None:
        """The slot's cgroup with these limits (bytes, processes); its cgroup.procs to move a process in, or None when refused."""
        run = self.base / f"run-{slot}"
        try:
            run.mkdir(exist_ok=True)
            (run / "memory.max").write_text(str(memory))
            (run / "pids.max").write_text(str(processes))
            swap = run / "memory.swap.max"  # absent without swap accounting
            if swap.exists():
                swap.write_text("0")
        except OSError as exc:
            log.warning("a run goes without its cgroup %s (%s); rlimits still apply", run, exc.strerror or exc)
            return None
        return run / "cgroup.procs"

    def oom_kills(self, slot: int) -> int:
        """How many processes the kernel has killed in the slot's cgroup for want of memory, so far."""
        for line in _lines(self.base / f"run-{slot}" / "memory.events"):
            name, _, count = line.partition(" ")
            if name == "oom_kill":
                return int(count)
        return 0


def _cgroup2_mount(mountinfo: Path) -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system)."""
    for line in _lines(mountinfo):
        fields = line.split()
        if " - cgroup2 " in line and len(fields) > 4:
            return Path(fields[4])
    return None


def _lines(path: Path) -> list[str]:
    return _read(path).splitlines()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
