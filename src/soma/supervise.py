"""Keeping `soma up`'s children running: restart the dead with backoff, give up on one that cannot start.

The rule (docs/architecture.md, "`soma up` heals"): a child that dies is started again after a delay
that begins at FIRST_DELAY and doubles to MAX_DELAY, back to FIRST_DELAY once it has stayed ready for
STEADY_AFTER. A child that dies before it is ready (its ready line logged, or READY_AFTER alive) has
failed to start; MAX_FAILED_STARTS of those in a row (a port in use, a bad setting: seconds, not
minutes) stop `soma up`, naming the child and printing its last lines. A child killed after it was
ready is always started again, however often. A child whose dependency (PostgreSQL) is down waits
for it, and its deaths meanwhile do not count.

The children's state goes to STATE_FILE in the data directory, which the gateway's /ready reports.
"""

from __future__ import annotations

import abc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from soma import errors

FIRST_DELAY = 0.25  # seconds before the first restart; doubles after each death
MAX_DELAY = 10.0  # seconds; the longest wait between two starts of a child
STEADY_AFTER = 10.0  # seconds a child stays ready before its delay goes back to FIRST_DELAY
READY_AFTER = 20.0  # seconds alive that count as ready when a child never says so (e.g. SOMA_LOG_LEVEL=WARNING)
MAX_FAILED_STARTS = 3  # deaths before ready, in a row, that make `soma up` give up
TAIL_LINES = 20  # lines of each child's output kept for the give-up message
STATE_FILE = "up-children.json"  # in SOMA_DATA_DIR; read by the gateway's /ready


class Child(abc.ABC):
    """A process `soma up` keeps running; subclasses say how to start, watch and stop it."""

    name = "child"
    needs: Child | None = None  # not started while this one is down
    serves_others = False  # True: stopped after the others, which may need it while they drain

    def __init__(self) -> None:
        self.state = "stopped"  # starting, up, down or stopped
        self.failed_starts = 0
        self.delay = FIRST_DELAY
        self.next_start = 0.0
        self.started_at = 0.0
        self.ready_since = 0.0
        self.last_exit = ""

    @abc.abstractmethod
    def launch(self) -> None:
        """Start the process (raise to count as a failed start)."""

    @abc.abstractmethod
    def ended(self) -> str | None:
        """How the process ended ("was killed by SIGKILL"), or None while it runs."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """True once the process says it serves."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Ask the process to stop (SIGTERM)."""

    @abc.abstractmethod
    def wait_stopped(self, timeout: float) -> None:
        """Wait for the process to stop, killing it after timeout seconds."""

    @abc.abstractmethod
    def tail(self) -> list[str]:
        """The last lines the process wrote."""


class Command(Child):
    """`python -m soma <command>`; its output goes on to ours, and its last lines are kept.

    `ready_mark` is the text of the log line that says it serves (e.g. "worker ready").
    """

    def __init__(self, name: str, command: str, env: dict[str, str], ready_mark: str, needs: Child | None = None) -> None:
        super().__init__()
        self.name, self.command, self.env, self.ready_mark, self.needs = name, command, env, ready_mark, needs
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: deque[str] = deque(maxlen=TAIL_LINES)
        self._marked = threading.Event()
        self._copying: threading.Thread | None = None

    def launch(self) -> None:
        argv = [sys.executable, "-m", "soma", *self.command.split()]
        self._marked.clear()
        self.process = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        copying = threading.Thread(target=self._copy, args=(self.process,), name=f"output of {self.name}", daemon=True)
        copying.start()
        self._copying = copying  # only once started: a stop signalled in between must not join a thread never started

    def _copy(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            _write_out(line)
            text = line.decode(errors="replace").rstrip()
            self.lines.append(text)
            if self.ready_mark in text:
                self._marked.set()

    def ended(self) -> str | None:
        status = None if self.process is None else self.process.poll()
        if status is None:
            return None
        if self._copying is not None:
            self._copying.join(1)  # read its last lines first: its ready line may be among them
        return describe_exit(status)

    def ready(self) -> bool:
        return self._marked.is_set()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._copying is not None:
            self._copying.join(1)  # its last lines reach our output

    def tail(self) -> list[str]:
        return list(self.lines)


_out_lock = threading.Lock()


def _write_out(line: bytes) -> None:
    """One child's line on our stdout, never interleaved with another's."""
    with _out_lock:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()


class Supervisor:
    """Starts the children in order, restarts the dead, and writes their state for /ready."""

    def __init__(self, data_dir: Path, echo: Callable[[str], None]) -> None:
        self.children: list[Child] = []
        self.state_path = data_dir / STATE_FILE
        self.echo = echo

    def start(self, child: Child) -> None:
        """Start a child now (the first time); a failure raises, as at any step of `soma up`'s start."""
        self.children.append(child)
        child.launch()
        child.state, child.started_at = "starting", time.monotonic()
        self._write_state()

    def check(self) -> None:
        """One pass over the children: note who is ready, who died, and start again who is due.

        Raises ChildKeepsFailing when a child has failed to start MAX_FAILED_STARTS times in a row.
        """
        now = time.monotonic()
        changed = False
        for child in self.children:
            if child.state in ("starting", "up"):
                changed |= self._watch(child, now)
            elif child.state == "down" and now >= child.next_start and _up(child.needs):
                changed |= self._restart(child, now)
        if changed:
            self._write_state()

    def _watch(self, child: Child, now: float) -> bool:
        how = child.ended()
        if how is None:
            if child.state == "starting" and (child.ready() or now - child.started_at > READY_AFTER):
                child.state, child.ready_since, child.failed_starts = "up", now, 0
                return True
            if child.state == "up" and now - child.ready_since > STEADY_AFTER:
                child.delay = FIRST_DELAY
            return False
        if child.state == "starting" and child.ready():  # it said so just before it died: not a failed start
            child.state, child.failed_starts = "up", 0
        self._died(child, now, how)
        return True

    def _died(self, child: Child, now: float, how: str) -> None:
        if child.state == "starting" and _up(child.needs):  # waiting for a dependency is no fault of its own
            child.failed_starts += 1
        child.state, child.last_exit = "down", how
        if child.failed_starts >= MAX_FAILED_STARTS:
            self._give_up(child)
        child.next_start = now + child.delay
        self.echo(f'soma up: child "{child.name}" {how}; starting it again in {child.delay:.2g} s')
        child.delay = min(child.delay * 2, MAX_DELAY)

    def _restart(self, child: Child, now: float) -> bool:
        try:
            child.launch()
        except Exception as exc:  # e.g. PostgreSQL refusing to start while old backends linger
            child.state = "starting"
            self._died(child, now, f"did not start ({type(exc).__name__}: {_first_line(exc)})")
            return True
        child.state, child.started_at = "starting", now
        self.echo(f'soma up: started child "{child.name}" again')
        return True

    def _give_up(self, child: Child) -> None:
        self.echo(f'soma up: the last lines of child "{child.name}":')
        for line in child.tail():
            self.echo(f"  {line}")
        detail = f'Child "{child.name}" of `soma up` failed to start {child.failed_starts} times in a row (last: it {child.last_exit}).'
        raise errors.ChildKeepsFailing(detail)

    def adopt(self, child: Child) -> None:
        """Watch a child that is already running and ready (the database `soma up` started)."""
        self.children.append(child)
        child.state, child.started_at = "up", time.monotonic()
        child.ready_since = child.started_at
        self._write_state()

    def stop(self, timeout: float) -> None:
        """SIGTERM the children and wait for them within timeout seconds each wave.

        Those that serve the others (the local SLM) stop last: the worker finishes its turns first.
        """
        for wave in (False, True):
            stopping = [c for c in reversed(self.children) if c.serves_others is wave]
            for child in stopping:
                child.stop()
            deadline = time.monotonic() + timeout
            for child in stopping:
                child.wait_stopped(max(0.1, deadline - time.monotonic()))
                child.state = "stopped"
        self.state_path.unlink(missing_ok=True)

    def _write_state(self) -> None:
        """The children's state for /ready, replaced in one rename so a reader never sees half of it."""
        state = {"pid": os.getpid(), "children": dict(self._states())}
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.state_path)

    def _states(self) -> Iterator[tuple[str, str]]:
        for child in self.children:
            if child.state == "up":
                yield child.name, "ok"
            elif child.state == "starting":
                yield child.name, "starting" + (f" again (it {child.last_exit})" if child.last_exit else "")
            else:
                yield child.name, f"down: it {child.last_exit}; starting it again"


def read_state(data_dir: Path, parent_pid: int) -> dict[str, str]:
    """The children's state written by `soma up` process parent_pid; empty when another process (or none) wrote it."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state["children"] if state.get("pid") == parent_pid else {}


def describe_exit(status: int) -> str:
    """How a process ended, from Popen's returncode: "exited with code 1", "was killed by SIGKILL"."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with code {status}"


def _up(child: Child | None) -> bool:
    return child is None or child.state == "up"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
