"""A container's conditions for a local process: the /tmp, root filesystem and uid Kubernetes gives a pod.

A pod's `/tmp` is an emptyDir, which Kubernetes makes `drwxrwsrwx` (world-writable, no sticky
bit); its root filesystem may be read-only; it runs as an arbitrary uid that /etc/passwd does not
know, with no XDG_RUNTIME_DIR. `confine` wraps a command line so it starts that way, in a private
mount namespace (util-linux `unshare`, run as root): nothing outside the process changes.

The test PostgreSQL's socket directory belongs to its own system user, so the confined process
reaches it over TCP, through `SocketBridge`.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
import threading
from pathlib import Path

UID = 10001  # like the charts' runAsUser, and in no /etc/passwd
ROOT = Path(__file__).resolve().parent.parent
# What the confined process must still reach, as a container image would hold it: the interpreter
# the venv links to, and this checkout (the venv, the source). Either may sit under /root (0700 to
# other uids) or under /tmp (replaced by the pod's own), so each is bound back at its own path.
KEPT = (Path(sys.base_prefix), ROOT)


def confine(argv: list[str], uid: int = UID) -> list[str]:
    """`argv` as a pod would run it, as `uid`."""
    hold = [f"mount --bind {shlex.quote(str(path))} /mnt/{i}" for i, path in enumerate(KEPT)]
    put_back = [f"mkdir -p {shlex.quote(str(path))} && mount --bind /mnt/{i} {shlex.quote(str(path))}" for i, path in enumerate(KEPT)]
    script = "\n".join([
        "set -e",
        "mount -t tmpfs -o mode=0700 tmpfs /mnt",  # the held directories, while /root and /tmp are replaced
        *(f"mkdir /mnt/{i}" for i in range(len(KEPT))),
        *hold,
        "mount -t tmpfs -o mode=0755 tmpfs /root",
        "mount -t tmpfs -o mode=0777 tmpfs /tmp",  # an emptyDir: world-writable, no sticky bit
        *put_back,
        "mount -o remount,bind,ro /",
        "cd /",
        f'exec setpriv --reuid {uid} --regid {uid} --clear-groups -- "$@"',
    ])  # fmt: skip
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "confined", *argv]


def pod_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment a pod's container gets: no runtime directory, HOME at the root, the rest as given."""
    return {**{k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}, "HOME": "/"}


class SocketBridge:
    """A TCP port on 127.0.0.1 that forwards each connection to a Unix socket: the test PostgreSQL for another uid."""

    def __init__(self, unix_path: str) -> None:
        self.unix_path = unix_path
        self._loop = asyncio.new_event_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self._server = self._loop.run_until_complete(asyncio.start_server(self._forward, sock=listener))
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(self.unix_path)
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer), return_exceptions=True)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
