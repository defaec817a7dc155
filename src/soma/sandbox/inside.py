"""The jail's first process, PID 1 inside it: seed the workspace, run the code under its limits, stop it, send the workspace back.

It runs inside the jail with the sandbox's Python and no site directory (`python -I -S`), so it
imports the standard library only, never Soma (and keeps to Python 3.9); and only the cheap parts
of it, since every run pays for its start (json, subprocess and ctypes cost 20 ms a run between
them). The code it runs shares its uid, so the service trusts nothing it sends: the workspace comes
back as records the service checks (soma.sandbox.files). What it does enforce is enforced by the
kernel for it: the rlimits it sets on the code's process before exec, and, being PID 1, that every
process in the jail dies when it exits and that the code's signals cannot reach it. RLIMIT_AS bounds each process, not their sum,
so it also watches the memory of all of them together (the watchdog below): 64 processes of 512 MiB
each would be 32 GiB.

    python -I -S inside.py CHANNEL TIMEOUT MEMORY LIMITS COMMAND...   (see arguments())

fd 0 brings the chat's files as records, fds 1 and 2 are the code's stdout and stderr, and the
CHANNEL fd takes the workspace back as records, then one JSON status line. A record is HEADER (the
path's length in bytes, the file's size in bytes), the UTF-8 path, the bytes; a record with an
empty path ends them.
"""

from __future__ import annotations

import errno
import os
import resource
import select
import signal
import stat
import struct
import sys
import time

HEADER = struct.Struct(">IQ")
WORKSPACE = "/workspace"
CHUNK = 64 * 1024  # bytes per read and write
FULL_BELOW = 64 * 1024  # bytes free under which the workspace counts as full
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
EXEC_FAILED = 127  # the exit code of a command that could not be started, as in a shell
WATCH_EVERY = 0.1  # seconds between two looks at the memory all the jail's processes use together


def arguments(channel: int, timeout: int, memory: int, limits: dict[str, list[int]], command: list[str]) -> list[str]:
    """This script's arguments: the channel's fd, the timeout in seconds, the memory in bytes all processes may use
    together, the rlimits of each (NAME=soft:hard,...), the command."""
    spelled = ",".join(f"{name}={soft}:{hard}" for name, (soft, hard) in limits.items())
    return [str(channel), str(timeout), str(memory), spelled, *command]


def main(argv: list[str]) -> None:
    """Run one jail's life and report it on the channel; the jail ends when this returns."""
    # As PID 1 only signals with a handler reach us: drop Python's SIGINT handler so the code cannot interrupt us.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    channel_fd, timeout, memory, spelled, command = int(argv[0]), float(argv[1]), int(argv[2]), argv[3], argv[4:]
    limits = [(getattr(resource, name), tuple(map(int, pair.split(":")))) for name, pair in (item.split("=") for item in spelled.split(","))]
    os.set_inheritable(channel_fd, False)  # the code must not write to the channel itself
    channel = os.fdopen(channel_fd, "wb", buffering=CHUNK)
    status: dict = {"exit_code": None, "signal": None, "timed_out": False, "out_of_memory": False, "workspace_full": False,
                    "seed_full": False, "skipped": 0}  # fmt: skip
    error = None
    try:
        if _seed(status):
            _run(command, timeout, memory, limits, status)
        status["skipped"] = _send_back(channel)
    except Exception:
        import traceback  # only now: it costs every run 3 ms to import

        error = traceback.format_exc(limit=3)[-2000:]
    channel.write(HEADER.pack(0, 0))
    channel.write(_status_line(status, error))
    channel.close()


def _status_line(status: dict, error: str | None) -> bytes:
    """The status as one JSON line; its values are numbers, booleans and None, and the error is encoded by json."""
    spell = {None: "null", True: "true", False: "false"}
    fields = [f'"{key}": {spell[value] if value is None or isinstance(value, bool) else int(value)}' for key, value in status.items()]
    if error is not None:
        import json  # only now: with `re`, it costs every run 6 ms to import

        fields.append(f'"error": {json.dumps(error)}')
    return ("{" + ", ".join(fields) + "}\n").encode()


def _seed(status: dict) -> bool:
    """Write the chat's files from fd 0 into the workspace; False when they do not fit."""
    try:
        while True:
            length, size = HEADER.unpack(_read_exactly(0, HEADER.size))
            if not length:
                break
            path = _read_exactly(0, length).decode()
            if path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"refusing to seed {path!r}")
            full = os.path.join(WORKSPACE, path)
            os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                while size:
                    chunk = _read_exactly(0, min(CHUNK, size))
                    os.write(fd, chunk)  # a tmpfs writes all of it, or fails with ENOSPC
                    size -= len(chunk)
            finally:
                os.close(fd)
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        status["seed_full"] = status["workspace_full"] = True
        return False
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the code's stdin is empty
    os.close(null)
    return True


def _read_exactly(fd: int, size: int) -> bytes:
    parts = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError("the workspace's records ended early")
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _run(command: list[str], timeout: float, memory: int, limits: list, status: dict) -> None:
    """Run the code until it exits, its time is up or all its processes together use more than `memory`; then stop every process it left."""
    pid = os.fork()
    if pid == 0:
        _exec(command, limits)
    pidfd = os.pidfd_open(pid)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            status["timed_out"] = True
            break
        finished, _, _ = select.select([pidfd], [], [], min(WATCH_EVERY, left))
        if finished:
            break
        if _memory_in_use() > memory:
            status["out_of_memory"] = True
            break
    os.close(pidfd)
    if status["timed_out"] or status["out_of_memory"]:
        try:
            os.kill(-1, signal.SIGKILL)  # every process in the jail but us
        except ProcessLookupError:
            pass  # it ended just now
    _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        status["signal"] = os.WTERMSIG(wait_status)
    else:
        status["exit_code"] = os.WEXITSTATUS(wait_status)
    _stop_everyone()
    free = os.statvfs(WORKSPACE)
    status["workspace_full"] = free.f_bavail * free.f_frsize < FULL_BELOW


def _memory_in_use() -> int:
    """Bytes of anonymous memory the jail's processes hold, shared pages counted once (their Pss_Anon), ours left out."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == "1":
            continue
        try:
            with open(f"/proc/{name}/smaps_rollup", "rb") as rollup:
                lines = rollup.read().splitlines()
        except OSError:
            continue  # gone since the listing
        fields = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
        value = fields.get(b"Pss_Anon", fields.get(b"Pss", b"0 kB"))  # Pss_Anon since Linux 5.9
        total += int(value.split()[0]) * 1024
    return total


def _exec(command: list[str], limits: list) -> None:
    """In the forked child: the code's limits (which it cannot raise), default signals, then the command; never returns."""
    try:
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them, and exec would keep that
            signal.signal(signum, signal.SIG_DFL)
        for resource_id, pair in limits:
            resource.setrlimit(resource_id, pair)
        os.execve(command[0], command, os.environ)
    except BaseException as exc:
        os.write(2, f"the sandbox could not start {command[0]}: {exc}\n".encode())
    os._exit(EXEC_FAILED)


def _stop_everyone() -> None:
    """Kill and reap whatever the code left running (orphans come to us, PID 1), so the workspace stops changing."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            pass  # an orphan on its way to us


def _send_back(channel) -> int:
    """Write every regular file of the workspace to the channel; returns how many entries were skipped."""
    skipped = 0
    for root, directories, names in os.walk(WORKSPACE):  # never into a symlinked directory
        directories.sort()
        for name in directories:
            try:
                _readable(os.path.join(root, name), stat.S_ISDIR, 0o500)  # so a `chmod 000 dir` loses none of its files
            except OSError:
                pass  # walked as it is
        for name in sorted(names):
            full = os.path.join(root, name)
            try:
                path = os.path.relpath(full, WORKSPACE).encode()  # a name that is not UTF-8 fails here
                _readable(full, stat.S_ISREG, 0o400)
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a symlink fails, a fifo does not block
            except (UnicodeEncodeError, OSError):
                skipped += 1
                continue
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    skipped += 1
                    continue
                channel.write(HEADER.pack(len(path), info.st_size) + path)
                left = info.st_size
                while left:
                    chunk = os.read(fd, min(CHUNK, left)) or bytes(min(CHUNK, left))  # nothing runs now: it cannot shrink
                    channel.write(chunk)
                    left -= len(chunk)
            finally:
                os.close(fd)
    return skipped


def _readable(path: str, kind, bits: int) -> None:
    """Give the owner (us: the code ran as our uid) back the `bits` it took from a file or directory of `kind`."""
    info = os.lstat(path)
    if kind(info.st_mode) and info.st_mode & bits != bits:
        os.chmod(path, stat.S_IMODE(info.st_mode) | bits)  # not a symlink (lstat): chmod follows nothing


if __name__ == "__main__":
    main(sys.argv[1:])
