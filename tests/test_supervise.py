"""soma.supervise's rule: restart with backoff, never give up on a child that was ready, give up on one that cannot start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from soma import errors, supervise


class Scripted(supervise.Child):
    """A child whose life the test decides: `die()` ends it, `become_ready()` makes it ready."""

    def __init__(self, name: str, needs: supervise.Child | None = None) -> None:
        super().__init__()
        self.name, self.needs = name, needs
        self.launches = 0
        self.running = False
        self.said_ready = False

    def launch(self) -> None:
        self.launches += 1
        self.running, self.said_ready = True, False

    def ended(self) -> str | None:
        return None if self.running else "exited with code 1"

    def ready(self) -> bool:
        return self.said_ready

    def stop(self) -> None:
        self.running = False

    def wait_stopped(self, timeout: float) -> None:
        pass

    def tail(self) -> list[str]:
        return [f"{self.name} line {i}" for i in range(3)]

    def die(self) -> None:
        self.running = False

    def become_ready(self) -> None:
        self.said_ready = True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """supervise's time.monotonic(), moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(supervise.time, "monotonic", lambda: now[0])
    return now


def test_a_child_killed_after_it_was_ready_is_always_started_again_with_a_doubling_delay(tmp_path: Path, clock) -> None:
    said: list[str] = []
    children = supervise.Supervisor(tmp_path, said.append)
    worker = Scripted("worker")
    children.start(worker)

    delays = []
    for _ in range(8):
        worker.become_ready()
        children.check()
        worker.die()
        children.check()
        delays.append(worker.next_start - clock[0])
        clock[0] = worker.next_start
        children.check()

    assert worker.launches == 9
    assert delays == [0.25, 0.5, 1, 2, 4, 8, 10, 10]
    assert said[0] == 'soma up: child "worker" exited with code 1; starting it again in 0.25 s'


def test_the_delay_starts_over_once_the_child_stayed_ready(tmp_path: Path, clock) -> None:
    children = supervise.Supervisor(tmp_path, lambda _: None)
    worker = Scripted("worker")
    children.start(worker)
    worker.become_ready()
    children.check()
    for _ in range(3):  # three quick deaths: the delay is 2 s now
        worker.die()
        children.check()
        clock[0] = worker.next_start
        children.check()
        worker.become_ready()
        children.check()

    clock[0] += supervise.STEADY_AFTER + 1
    children.check()
    worker.die()
    children.check()

    assert worker.next_start - clock[0] == supervise.FIRST_DELAY


def test_a_child_that_dies_before_it_is_ready_three_times_in_a_row_ends_it_naming_the_child(tmp_path: Path, clock) -> None:
    said: list[str] = []
    children = supervise.Supervisor(tmp_path, said.append)
    gateway = Scripted("gateway")
    children.start(gateway)

    with pytest.raises(errors.ChildKeepsFailing) as failed:
        for _ in range(3):
            gateway.die()
            children.check()
            clock[0] = gateway.next_start
            children.check()

    assert gateway.launches == 3
    assert failed.value.message.startswith(
        'Child "gateway" of `soma up` failed to start 3 times in a row (last: it exited with code 1). '
    )
    assert said[-4:] == ['soma up: the last lines of child "gateway":', "  gateway line 0", "  gateway line 1", "  gateway line 2"]


def test_a_child_waits_for_its_dependency_and_its_deaths_meanwhile_do_not_count(tmp_path: Path, clock) -> None:
    children = supervise.Supervisor(tmp_path, lambda _: None)
    postgres = Scripted("postgres")
    children.adopt(postgres)
    worker = Scripted("worker", needs=postgres)
    children.start(worker)

    postgres.die()
    worker.die()  # before it was ready, but because its database went away
    children.check()
    clock[0] += 0.2  # the worker's delay is over, postgres's is not
    children.check()

    assert (worker.state, worker.failed_starts, worker.launches) == ("down", 0, 1)
    clock[0] += 1
    children.check()  # postgres starts again
    postgres.become_ready()
    children.check()  # postgres is ready, so the worker starts
    assert (postgres.state, worker.state, worker.launches) == ("up", "starting", 2)


def test_the_state_file_names_each_child_and_is_read_only_by_the_children_of_its_writer(tmp_path: Path, clock) -> None:
    children = supervise.Supervisor(tmp_path, lambda _: None)
    worker, tunnel = Scripted("worker"), Scripted("tunnel")
    children.start(worker)
    children.start(tunnel)
    tunnel.become_ready()
    worker.die()
    children.check()

    expected = {"worker": "down: it exited with code 1; starting it again", "tunnel": "ok"}
    assert json.loads((tmp_path / supervise.STATE_FILE).read_text()) == {"pid": os.getpid(), "children": expected}
    assert supervise.read_state(tmp_path, os.getpid()) == expected
    assert supervise.read_state(tmp_path, os.getpid() + 1) == {}  # a file left by another soma up
    children.stop(timeout=1)
    assert not (tmp_path / supervise.STATE_FILE).exists()


def test_a_child_that_serves_the_others_stops_after_them(tmp_path: Path, clock) -> None:
    stopped: list[str] = []

    class Recorded(Scripted):
        def stop(self) -> None:
            stopped.append(self.name)

    children = supervise.Supervisor(tmp_path, lambda _: None)
    slm, worker, gateway = Recorded("slm"), Recorded("worker"), Recorded("gateway")
    slm.serves_others = True
    for child in (slm, worker, gateway):
        children.start(child)

    children.stop(timeout=1)

    assert stopped == ["gateway", "worker", "slm"]
