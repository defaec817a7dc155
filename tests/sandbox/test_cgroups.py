"""Finding a delegated cgroup v2 and preparing a run's, on a directory laid out as cgroupfs is.

This machine delegates no cgroup v2 (its controllers are on v1 hierarchies), so these tests check
what the service reads and writes, not the kernel's enforcement; the jails' limits are proved with
rlimits in test_escapes.py.
"""

from __future__ import annotations

from pathlib import Path

from soma.sandbox import cgroups


def _machine(tmp_path: Path, controllers: str) -> tuple[Path, Path, Path]:
    """A cgroup2 mount at tmp_path/cg, this process in /system.slice/soma.service, offering `controllers`."""
    mount = tmp_path / "cg"
    base = mount / "system.slice" / "soma.service"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text(controllers + "\n")
    (base / "cgroup.subtree_control").write_text("")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"22 1 0:21 / /proc rw - proc proc rw\n41 31 0:38 / {mount} rw,relatime - cgroup2 cgroup2 rw\n")
    own = tmp_path / "cgroup"
    own.write_text("0::/system.slice/soma.service\n")
    return mountinfo, own, base


def test_a_delegated_cgroup_gets_a_leaf_for_the_service_and_a_cgroup_per_slot_with_the_runs_limits(tmp_path: Path) -> None:
    mountinfo, own, base = _machine(tmp_path, "cpu io memory pids")

    found, said = cgroups.Cgroups.find(mountinfo, own, pid=4321)
    assert found is not None
    procs = found.prepare(3, memory=300 * 1024 * 1024, processes=68)

    assert said == f"each run in a cgroup of its own under {base} (memory.max, pids.max), and rlimits"
    assert (base / "service" / "cgroup.procs").read_text() == "4321"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert procs == base / "run-3" / "cgroup.procs"
    assert ((base / "run-3" / "memory.max").read_text(), (base / "run-3" / "pids.max").read_text()) == ("314572800", "68")


def test_the_kernels_count_of_out_of_memory_kills_is_read_from_memory_events(tmp_path: Path) -> None:
    mountinfo, own, base = _machine(tmp_path, "memory pids")
    found, _ = cgroups.Cgroups.find(mountinfo, own, pid=1)
    assert found is not None
    (base / "run-0").mkdir()

    assert found.oom_kills(0) == 0
    (base / "run-0" / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n")
    assert found.oom_kills(0) == 2


def test_without_cgroup_v2_or_its_controllers_or_the_right_to_write_jails_get_rlimits_only(tmp_path: Path) -> None:
    mountinfo, own, base = _machine(tmp_path, "cpu io")
    v1_only = tmp_path / "v1"
    v1_only.write_text("25 24 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
    refused_mountinfo, refused_own, refused_base = _machine(tmp_path / "refused", "memory pids")
    (refused_base / "service").write_text("a file where the service's leaf would go")

    assert cgroups.Cgroups.find(v1_only, own) == (None, "no cgroup v2 here: rlimits only")
    assert cgroups.Cgroups.find(mountinfo, own) == (None, f"the service's cgroup {base} offers no memory and pids controller: rlimits only")
    assert cgroups.Cgroups.find(refused_mountinfo, refused_own) == (
        None, f"the service's cgroup {refused_base} is not delegated to it (File exists): rlimits only")  # fmt: skip
