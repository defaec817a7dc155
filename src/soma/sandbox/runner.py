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

from soma.sandbox import files, inside, jail, limits, protocol

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024  # bytes per read of the code's output
STDERR_TAIL = 4096  # bytes of stderr kept to read why a run failed
# What a program says when an allocation fails under RLIMIT_AS: Python (numpy's _ArrayMemoryError too), libc, C++, GNU tools.
OUT_OF_MEMORY = re.compile(rb"MemoryError|Cannot allocate memory|memory exhausted|std::bad_alloc|[Oo]ut of memory")


@dataclass
class _Stream:
    """One output stream as it was read: whether it went past the cap, and the end of it."""

    truncated: bool = False
    tail: bytes = b""


async def run(layout: jail.Layout, request: protocol.RunRequest, uid: int | None) -> AsyncIterator[protocol.Output | protocol.Result]:
    """Run `request` in a fresh jail, as host uid `uid` (None: this process's), yielding its output and then its result."""
    loop = asyncio.get_running_loop()
    fds = jail.Files()
    back_read, back_write = os.pipe2(os.O_CLOEXEC)
    init_args = inside.arguments(back_write, request.timeout_seconds, request.memory_mb * protocol.MiB, limits.rlimits(request),
                                 jail.command(layout, request.language))  # fmt: skip
    try:
        argv = jail.argv(layout, fds, code=request.code, language=request.language, network=request.network,
                         workspace_bytes=request.workspace_mb * protocol.MiB, init_args=init_args)  # fmt: skip
        started = loop.time()
        process = await _spawn(argv, [back_write, *fds.fds], uid)
    except OSError as exc:  # bwrap gone since the check, the Python env unreadable, a uid refused
        log.error("a jail could not be started: %s", exc)
        os.close(back_read)
        yield protocol.Result(None, "failed", f"The jail could not be started ({exc}).", False, False, 0.0)
        return
    finally:
        fds.close()
        os.close(back_write)
    bwrap = _Handle(process.pid)
    channel = asyncio.StreamReader(limit=files.STATUS_MAX_BYTES)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(channel), os.fdopen(back_read, "rb", 0))
    queue: asyncio.Queue[protocol.Output | None] = asyncio.Queue()
    streams = {"stdout": _Stream(), "stderr": _Stream()}
    tasks = [
        asyncio.create_task(_feed(process, request.files)),
        asyncio.create_task(_pump(process.stdout, "stdout", streams["stdout"], queue)),
        asyncio.create_task(_pump(process.stderr, "stderr", streams["stderr"], queue)),
    ]
    back = asyncio.create_task(files.read_back(channel, request.files, request.workspace_mb * protocol.MiB))
    deadline = started + request.timeout_seconds + protocol.KILL_GRACE
    overdue = False
    try:
        ended = 0
        while ended < 2:  # both streams read to their end: the jail has exited
            try:
                item = queue.get_nowait() if not queue.empty() else await asyncio.wait_for(queue.get(), deadline - loop.time())
            except TimeoutError:
                if overdue:
                    break  # killed, and its streams still open: stop reading them
                overdue = True
                bwrap.kill()
                deadline = loop.time() + protocol.KILL_GRACE
                continue
            if item is None:
                ended += 1
            else:
                yield item
        try:
            returned = await asyncio.wait_for(back, max(0.1, deadline - loop.time()))
        except (files.Refused, TimeoutError) as exc:
            overdue |= isinstance(exc, TimeoutError)
            returned = exc
        bwrap.kill()  # the init has exited, or is stuck: either way the jail is done
        exit_status = await process.wait()
        result = _result(request, returned, streams, overdue, exit_status, (loop.time() - started) * 1000)
        log.info("run ended: %s, exit %s, reason %s, %.0f ms, %d changed, %d deleted", request.language,
                 result.exit_code, result.reason, result.duration_ms, len(result.changed), len(result.deleted))  # fmt: skip
        yield result
    finally:
        bwrap.kill()  # also the way out when the caller stops listening: the jail dies with its PID 1
        for task in [*tasks, back]:
            task.cancel()
        transport.close()
        await process.wait()
        bwrap.close()


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


async def _spawn(argv: list[str], pass_fds: list[int], uid: int | None) -> asyncio.subprocess.Process:
    """bwrap with an empty environment, in a session of its own, as `uid` when given."""
    as_user = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
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
        while chunk := await reader.read(READ_CHUNK):
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


def _result(request: protocol.RunRequest, returned: files.Returned | Exception, streams: dict[str, _Stream],
            overdue: bool, exit_status: int, duration_ms: float) -> protocol.Result:  # fmt: skip
    """How the run ended, from what the init reported (or failed to)."""
    exit_code, reason, message = _ending(request, returned, streams["stderr"].tail, overdue, exit_status)
    complete = isinstance(returned, files.Returned) and reason not in ("failed",)
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


def _ending(request: protocol.RunRequest, returned: files.Returned | Exception, stderr_tail: bytes, overdue: bool,
            exit_status: int) -> tuple[int | None, str | None, str | None]:  # fmt: skip
    """(exit_code, reason, message) of a run."""
    timeout = ("timeout", f"Stopped after {request.timeout_seconds} s, the run's time limit.")
    if overdue:
        return None, *timeout
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
    out_of_memory = ("memory", f"The run ran out of memory: its limit is {request.memory_mb} MiB.")
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
