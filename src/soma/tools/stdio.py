"""The stdio transport to an MCP server: the process started with an explicit environment, what it writes bounded.

The SDK's own stdio client merges the worker's HOME, PATH, SHELL, USER… into the child's
environment, sends the child's stderr to the worker's, and buffers a line of stdout however long
it grows. This one gives the child exactly the environment it is handed (config.tool_server_environment
plus the server's env), reads stderr all the time into a tail of STDERR_TAIL_BYTES (never into a
log as it comes: a server may write without end), and ends the connection when one message passes
MAX_MESSAGE_BYTES. `Process.ended` is set when the server is gone (its stdout closed, or it broke
the limit), which is how a connection learns that a stdio server died between calls.

Shutdown follows the MCP spec: close stdin, wait, SIGTERM to the process group, wait, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import mcp_types
from anyio.abc import Process as AnyioProcess
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

MiB = 1024 * 1024
MAX_MESSAGE_BYTES = 16 * MiB  # one JSON-RPC line; far above any result a capped tool returns
STDERR_TAIL_BYTES = 4096  # what is kept of a server's stderr, for the error shown when it fails
STOP_GRACE_SECONDS = 2.0  # after stdin closes, for the server to exit on its own
KILL_GRACE_SECONDS = 2.0  # after SIGTERM, before SIGKILL
EXIT_POLL_SECONDS = 0.05  # only while stopping one


@dataclass
class Tail:
    """The last `limit` bytes written to it."""

    limit: int = STDERR_TAIL_BYTES
    _data: bytearray = field(default_factory=bytearray)
    _cut: bool = False

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > self.limit:
            del self._data[: len(self._data) - self.limit]
            self._cut = True

    def text(self) -> str:
        """The tail as text: its last lines, without the torn first line when it was cut."""
        text = self._data.decode(errors="replace")
        if self._cut and "\n" in text:
            text = text.split("\n", 1)[1]
        return text.strip()

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class Process:
    """What one start of a stdio server showed: whether it ended, why, its exit code and stderr's tail."""

    stderr: Tail = field(default_factory=Tail)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    problem: str | None = None  # why Soma ended it (a message over the limit)
    returncode: int | None = None
    pid: int | None = None

    def describe(self) -> str:
        """How it ended, for an error: the limit it broke, or its exit code or signal."""
        if self.problem:
            return self.problem
        if self.returncode is None:
            return "it closed the connection"
        if self.returncode < 0:
            return f"it was killed by {signal.Signals(-self.returncode).name}"
        return f"it exited with code {self.returncode}"


@contextlib.asynccontextmanager
async def connect(command: str, args: tuple[str, ...], env: dict[str, str], watch: Process) -> AsyncIterator[TransportStreams]:
    """Start the server and yield the SDK's stream pair; stop it (and its process group) on exit."""
    process = await anyio.open_process([command, *args], env=env, start_new_session=True)
    watch.pid = process.pid
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    async with anyio.create_task_group() as group:
        group.start_soon(_read_stdout, process, read_writer, watch)
        group.start_soon(_write_stdin, process, write_reader, watch)
        group.start_soon(_drain_stderr, process, watch)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled caller must still not leave the server running
                await _stop(process)
                watch.returncode = process.returncode
                for stream in (read_stream, write_stream, read_writer, write_reader):
                    await stream.aclose()
            group.cancel_scope.cancel()


async def _read_stdout(process: AnyioProcess, out: anyio.abc.ObjectSendStream, watch: Process) -> None:
    """One JSON-RPC message per line, each at most MAX_MESSAGE_BYTES; lines that are not JSON-RPC are dropped."""
    assert process.stdout is not None
    buffer = bytearray()
    scanned = 0  # the buffer before this holds no newline
    try:
        async for chunk in process.stdout:
            buffer += chunk
            while (end := buffer.find(b"\n", scanned)) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                scanned = 0
                if line.strip():
                    await _deliver(line, out)
            scanned = len(buffer)
            if len(buffer) > MAX_MESSAGE_BYTES:
                watch.problem = f"it sent a message over {MAX_MESSAGE_BYTES // MiB} MiB"
                return
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
        pass
    finally:
        watch.ended.set()
        await out.aclose()


async def _deliver(line: bytes, out: anyio.abc.ObjectSendStream) -> None:
    try:
        message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError:
        return  # a print() to stdout by mistake: not for us, and not worth ending the connection
    await out.send(SessionMessage(message))


async def _write_stdin(process: AnyioProcess, messages: anyio.abc.ObjectReceiveStream, watch: Process) -> None:
    assert process.stdin is not None
    try:
        async for message in messages:
            data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
            await process.stdin.send(data.encode())
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        watch.ended.set()  # the server no longer reads: it is gone or going


async def _drain_stderr(process: AnyioProcess, watch: Process) -> None:
    assert process.stderr is not None
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
        async for chunk in process.stderr:
            watch.stderr.add(chunk)


async def _stop(process: AnyioProcess) -> None:
    """Close stdin, give the server STOP_GRACE_SECONDS, then SIGTERM and SIGKILL its whole process group."""
    assert process.stdin is not None
    with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    for signum, grace in ((None, STOP_GRACE_SECONDS), (signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, KILL_GRACE_SECONDS)):
        if signum is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signum)  # the group: `npx` and shells start the real server as a child
        if await _exited(process, grace):
            break
    # A child that outlived the server may still hold the group's pipes; nothing of it may stay.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.aclose()


async def _exited(process: AnyioProcess, seconds: float) -> bool:
    """Whether it exits within seconds; by its return code, not wait(), which also waits for pipes to close."""
    deadline = anyio.current_time() + seconds
    while process.returncode is None:
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(EXIT_POLL_SECONDS)
    return True
