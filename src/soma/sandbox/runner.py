"""One run: start its jail, feed it the chat's files, stream its output capped, stop it on time, read its workspace back.

The jail's init (soma.sandbox.inside) keeps the run's own time and stops every process in it; this
side keeps a second, later deadline (protocol.KILL_GRACE more) and kills the whole jail when the init has not
finished by then, or when the caller stops listening (an aborted generator: a client that closed
its connection). Killing bwrap kills the jail's PID 1 (--die-with-parent), and with it every process
in the jail's PID namespace.

Output is read as it comes and never held: each stream's first protocol.OUTPUT_CAP bytes become
Output events, the rest is read and dropped, so a program printing 100 MB runs on and costs nothing
here but the reading. Only the last STDERR_TAIL bytes of stderr are kept, to tell a run that ran out
of memory.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from soma.sandbox import files, inside, jail, limits, protocol

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024  # bytes per read of the code's output
COALESCE = 0.005  # seconds to wait for the end of a line the code has begun printing
STDERR_TAIL = 4096  # bytes of stderr kept to read why a run failed
# What a program says when an allocation fails under RLIMIT_AS: Python (numpy's _ArrayMemoryError too), libc, C++, GNU tools.
OUT_OF_MEMORY = re.compile(rb"MemoryError|Cannot allocate memory|memory exhausted|std::bad_alloc|[Oo]ut of memory")


@dataclass
class _Stream:
    """One output stream as it was read: whether it went past the cap, and the end of it."""

    truncated: bool = False
    tail: bytes = b""


async def run(layout: jail.Layout, request: protocol.RunRequest, slot: limits.Slot) -> AsyncIterator[protocol.Output | protocol.Result]:
    """Run `request` in a fresh jail in `slot` (its host uid, its cgroup), yielding its output and then its result."""
    try:
        running = await _Jail.start(layout, request, slot)
    except OSError as exc:  # bwrap gone since the check, the Python env unreadable, a uid refused
        log.error("a jail could not be started: %s", exc)
        yield protocol.Result(None, "failed", f"The jail could not be started ({exc}).", False, False, 0.0)
        return
    try:
        async for output in running.outputs():
            yield output
        result = await running.result()
        log.info("run ended: %s, exit %s, reason %s, %.0f ms, %d changed, %d deleted", request.language,
                 result.exit_code, result.reason, result.duration_ms, len(result.changed), len(result.deleted))  # fmt: skip
        yield result
    finally:
        await running.close()  # also the way out when the caller stops listening: the jail dies with its PID 1


class _Jail:
    """One running jail: its bwrap process, the tasks that feed it and read it, its deadline."""

    def __init__(self, request: protocol.RunRequest, slot: limits.Slot, process: asyncio.subprocess.Process, cgroup: Path | None) -> None:
        loop = asyncio.get_running_loop()
        self.request, self.slot, self.process, self.cgroup = request, slot, process, cgroup
        self.bwrap = _Handle(process.pid)
        self.started = loop.time()
        self.deadline = self.started + request.timeout_seconds + protocol.KILL_GRACE
        self.stopped: str | None = None  # "timeout" past the deadline, "memory" when the cgroup killed for memory
        self.oom_kills = slot.cgroups.oom_kills(slot.number) if slot.cgroups and cgroup else 0
        self.channel = asyncio.StreamReader(limit=files.STATUS_MAX_BYTES)
        self.transport: asyncio.BaseTransport | None = None
        self.queue: asyncio.Queue[protocol.Output | None] = asyncio.Queue()
        self.streams = {"stdout": _Stream(), "stderr": _Stream()}
        self.tasks = [
            asyncio.create_task(_feed(process, request.files)),
            asyncio.create_task(_pump(process.stdout, "stdout", self.streams["stdout"], self.queue)),
            asyncio.create_task(_pump(process.stderr, "stderr", self.streams["stderr"], self.queue)),
        ]
        self.back: asyncio.Task[files.Returned] | None = None

    @classmethod
    async def start(cls, layout: jail.Layout, request: protocol.RunRequest, slot: limits.Slot) -> _Jail:
        """Spawn bwrap for `request`; OSError when it cannot be."""
        fds = jail.Files()
        back_read, back_write = os.pipe2(os.O_CLOEXEC)
        try:
            init_args = inside.arguments(back_write, request.timeout_seconds, request.memory_mb * protocol.MiB,
                                         limits.rlimits(request), jail.command(layout, request.language))  # fmt: skip
            argv = jail.argv(layout, fds, code=request.code, language=request.language, network=request.network,
                             workspace_bytes=request.workspace_mb * protocol.MiB, init_args=init_args)  # fmt: skip
            cgroup = None
            if slot.cgroups:
                cgroup = slot.cgroups.prepare(slot.number, limits.cgroup_memory(request), limits.PROCESSES + limits.JAIL_PROCESSES)
            process = await _spawn(argv, [back_write, *fds.fds], slot.uid, cgroup)
        except OSError:
            os.close(back_read)
            raise
        finally:
            fds.close()
            os.close(back_write)
        running = cls(request, slot, process, cgroup)
        reading = asyncio.StreamReaderProtocol(running.channel)
        running.transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: reading, os.fdopen(back_read, "rb", 0))
        running.back = asyncio.create_task(files.read_back(running.channel, request.files, request.workspace_mb * protocol.MiB))
        return running

    async def outputs(self) -> AsyncIterator[protocol.Output]:
        """The code's output as it comes, until both streams end (the jail has exited) or the jail is killed past its deadline."""
        loop = asyncio.get_running_loop()
        ended = 0
        while ended < 2:
            try:
                item = self.queue.get_nowait() if not self.queue.empty() else await asyncio.wait_for(self.queue.get(), self.deadline - loop.time())
            except TimeoutError:  # past the deadline: the init did not stop the code
                if self.stopped:
                    return  # killed, and its streams still open: stop reading them
                self.stopped = "timeout"
                self.bwrap.kill()
                self.deadline = loop.time() + protocol.KILL_GRACE
                continue
            if item is None:
                ended += 1
            else:
                yield item

    async def result(self) -> protocol.Result:
        """How the run ended, once the init has sent the workspace back (or failed to)."""
        loop = asyncio.get_running_loop()
        assert self.back is not None
        returned: files.Returned | Exception
        try:
            returned = await asyncio.wait_for(self.back, max(0.1, self.deadline - loop.time()))
        except TimeoutError as exc:
            self.stopped, returned = "timeout", exc
        except files.Refused as exc:
            returned = exc
        self.bwrap.kill()  # the init has exited, or is stuck: either way the jail is done
        exit_status = await self.process.wait()
        if self.slot.cgroups and self.cgroup and self.slot.cgroups.oom_kills(self.slot.number) > self.oom_kills:
            self.stopped = self.stopped or "memory"
        return _result(self.request, returned, self.streams, self.stopped, exit_status, (loop.time() - self.started) * 1000)

    async def close(self) -> None:
        """Kill the jail if it still runs, stop reading it, reap bwrap."""
        self.bwrap.kill()
        for task in [*self.tasks, *([self.back] if self.back else [])]:
            task.cancel()
        if self.transport is not None:
            self.transport.close()
        await self.process.wait()
        self.bwrap.close()


class _Handle:
    """A pidfd of the jail's bwrap: kill() reaches that process or none, never one that took its pid since.

    Not Popen.kill(), which polls first and so may reap the process under asyncio's child watcher.
    """

    def __init__(self, pid: int) -> None:
        try:
            self.fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # gone and reaped already: nothing left to kill
            self.fd = None

    def kill(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.fd, signal.SIGKILL)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


async def _spawn(argv: list[str], pass_fds: list[int], uid: int | None, cgroup: Path | None) -> asyncio.subprocess.Process:
    """bwrap with an empty environment, in a session of its own, as `uid` when given, in `cgroup` (its cgroup.procs) when given.

    Into a cgroup the process moves itself, before it drops to `uid` (setpriv) and execs bwrap, so
    nothing of the jail ever runs outside it.
    """
    as_user: dict = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    if cgroup is not None:
        drop = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup), *drop, *argv]
        as_user = {}
    return await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        pass_fds=pass_fds, env={}, start_new_session=True, **as_user,
    )  # fmt: skip


async def _feed(process: asyncio.subprocess.Process, sent: list[tuple[str, bytes]]) -> None:
    """The chat's files into the init's stdin; a jail that died meanwhile simply stops taking them."""
    assert process.stdin is not None
    try:
        for piece in files.records(sent):
            process.stdin.write(piece)
            await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


async def _pump(reader: asyncio.StreamReader | None, name: str, stream: _Stream, queue: asyncio.Queue) -> None:
    """Read one stream to its end: the first OUTPUT_CAP bytes as Output, the rest dropped; None on the queue at the end."""
    assert reader is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    sent = 0
    try:
        while chunk := await _read_lines(reader):
            stream.tail = (stream.tail + chunk)[-STDERR_TAIL:] if name == "stderr" else b""
            if sent >= protocol.OUTPUT_CAP:
                stream.truncated = True
                continue
            piece = chunk[: protocol.OUTPUT_CAP - sent]
            sent += len(piece)
            stream.truncated = len(piece) < len(chunk)
            text = decoder.decode(piece, final=sent >= protocol.OUTPUT_CAP)
            if text:
                queue.put_nowait(protocol.Output(name, text))
        if text := decoder.decode(b"", final=True):
            queue.put_nowait(protocol.Output(name, text))
    finally:
        queue.put_nowait(None)


async def _read_lines(reader: asyncio.StreamReader) -> bytes:
    """What the stream has, waiting up to COALESCE for the rest of a line begun: `print` writes its text and its
    newline apart when unbuffered, and each piece would otherwise be an event of its own."""
    chunk = await reader.read(READ_CHUNK)
    while chunk and not chunk.endswith(b"\n") and len(chunk) < READ_CHUNK:
        try:
            more = await asyncio.wait_for(reader.read(READ_CHUNK - len(chunk)), COALESCE)
        except TimeoutError:
            break  # a line still being written (a progress bar): send what there is
        if not more:
            break
        chunk += more
    return chunk


def _result(request: protocol.RunRequest, returned: files.Returned | Exception, streams: dict[str, _Stream],
            stopped: str | None, exit_status: int, duration_ms: float) -> protocol.Result:  # fmt: skip
    """How the run ended, from what the init reported (or failed to)."""
    exit_code, reason, message = _ending(request, returned, streams["stderr"].tail, stopped, exit_status)
    complete = isinstance(returned, files.Returned) and reason != "failed"
    return protocol.Result(
        exit_code=exit_code,
        reason=reason,
        message=message,
        stdout_truncated=streams["stdout"].truncated,
        stderr_truncated=streams["stderr"].truncated,
        duration_ms=duration_ms,
        changed=returned.changed if complete else [],
        deleted=returned.deleted if complete else [],
    )


def _ending(request: protocol.RunRequest, returned: files.Returned | Exception, stderr_tail: bytes, stopped: str | None,
            exit_status: int) -> tuple[int | None, str | None, str | None]:  # fmt: skip
    """(exit_code, reason, message) of a run; `stopped` is why this side stopped it, if it did."""
    timeout = ("timeout", f"Stopped after {request.timeout_seconds} s, the run's time limit.")
    out_of_memory = ("memory", f"The run ran out of memory: its limit is {request.memory_mb} MiB.")
    if stopped == "timeout":
        return None, *timeout
    if stopped == "memory":
        return None, *out_of_memory
    first_line = stderr_tail.partition(b"\n")[0]
    if isinstance(returned, files.Refused) and exit_status != 0 and first_line.startswith(b"bwrap: "):
        return None, "failed", f"The jail did not start: {first_line.decode(errors='replace')}"
    if isinstance(returned, files.Refused):
        return None, returned.reason, str(returned)
    if isinstance(returned, Exception):
        return None, "failed", f"The run ended without a result ({returned})."
    status = returned.status
    if status.get("error"):
        log.error("the jail's init failed: %s", status["error"])
        return None, "failed", "The jail's init failed; the sandbox's log says why."
    if status.get("seed_full"):
        return None, "workspace_full", f"The chat's files do not fit in its workspace ({request.workspace_mb} MiB)."
    exit_code, number = status.get("exit_code"), status.get("signal")
    if status.get("timed_out") or number == signal.SIGXCPU:
        return None, *timeout
    if status.get("out_of_memory"):
        return None, *out_of_memory
    failed = exit_code != 0
    if number == signal.SIGXFSZ or (failed and status.get("workspace_full")):
        return exit_code, "workspace_full", f"The workspace is full: its limit is {request.workspace_mb} MiB."
    if failed and OUT_OF_MEMORY.search(stderr_tail):
        return exit_code, *out_of_memory
    if number is not None:
        return None, "killed", f"Killed by {_signal_name(number)}."
    return exit_code, None, None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
