"""The jail: bubblewrap's command line for one run, and the files and environment the run gets.

What the jail holds, and why each piece is safe to give, is docs/security.md ("Running the agent's
code"): a read-only root of /usr and a few files of /etc, the sandbox's Python read-only, a new /proc
and /dev, its own /tmp and /dev/shm, and /workspace, a tmpfs of the run's quota. bwrap is started
with an empty environment and the run gets only ENVIRONMENT. Generated files (passwd, group, the
init, the code, matplotlib's font list) reach the jail as memfds bwrap copies in (--ro-bind-data),
so nothing of a run is ever written to the host's disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from soma.sandbox import inside, python_env

UID = 65534  # the jail's uid and gid inside: nobody
TMP_BYTES = 64 * 1024 * 1024  # the jail's /tmp
SHM_BYTES = 32 * 1024 * 1024  # the jail's /dev/shm (multiprocessing's semaphores and shared arrays)
WORKSPACE = inside.WORKSPACE
INIT = "/run/soma/init/inside.py"
CODE = {"python": "/run/soma/code/main.py", "shell": "/run/soma/code/main.sh"}
MPLCONFIGDIR = "/tmp/matplotlib"
# Directories of the root that are links into /usr on a merged-/usr system, and bound as they are elsewhere.
ROOT_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# What programs read from /etc: the loader's cache, alternatives (awk, editors), CA certificates (never
# /etc/ssl/private), time zone, name service rules for passwd and group (ours), protocols and services
# for sockets, MIME types, fontconfig.
ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl/certs", "ssl/openssl.cnf", "pki/tls/certs",
    "pki/ca-trust", "localtime", "timezone", "nsswitch.conf", "protocols", "services", "mime.types", "os-release", "fonts",
)  # fmt: skip
ETC_NETWORK = ("resolv.conf", "hosts", "host.conf", "gai.conf")  # only with egress
INIT_SOURCE = Path(inside.__file__).read_bytes()
PASSWD = f"nobody:x:{UID}:{UID}:nobody:{WORKSPACE}:/bin/sh\n"
GROUP = f"nogroup:x:{UID}:\n"


@dataclass(frozen=True)
class Layout:
    """What every jail of this service gets, worked out once at start."""

    bwrap: str
    python: python_env.PythonEnv
    shell: str  # bash where the system has it: what an SLM's shell code expects
    font_cache: tuple[str, bytes] | None = None  # matplotlib's font list, so no run builds it again


@dataclass
class Files:
    """The fds a run passes to bwrap, to be closed once bwrap has started."""

    fds: list[int] = field(default_factory=list)

    def data(self, content: bytes) -> int:
        """A memfd holding `content`, read from its start by bwrap."""
        fd = os.memfd_create("soma-sandbox", os.MFD_CLOEXEC)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        self.fds.append(fd)
        return fd

    def directory(self, path: Path) -> int:
        """An O_PATH fd of a directory this service can reach, whatever the jail's uid may (bwrap binds it by fd)."""
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds.append(fd)
        return fd

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


def environment(layout: Layout, language: str) -> dict[str, str]:
    """The run's whole environment: nothing of the service's, no secret."""
    path = ":".join(filter(None, (layout.python.bin_dir, "/usr/local/bin", "/usr/bin", "/bin")))
    env = {
        "PATH": path,
        "HOME": WORKSPACE,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "XDG_CACHE_HOME": "/tmp/cache",  # tools' caches stay out of the workspace, which goes back to the chat
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": MPLCONFIGDIR,
        "OPENBLAS_NUM_THREADS": "1",  # threads count against the process limit, and their stacks against memory
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",  # output streams as it is printed
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ of the chat's modules in its workspace
    }
    if language == "python":
        env["PYTHONPATH"] = WORKSPACE  # `import helper` finds the chat's helper.py, as with `python -c`
    return env


def argv(layout: Layout, files: Files, *, code: str, language: str, network: str, workspace_bytes: int, init_args: list[str]) -> list[str]:
    """bwrap's command line for one run, ending with the init's (inside.arguments()); the fds it names are opened in `files`."""
    args = [layout.bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
    if network == "egress":
        args.append("--share-net")
    args += ["--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL"]
    args += ["--uid", str(UID), "--gid", str(UID), "--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ROOT_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    for name in ETC_FILES + (ETC_NETWORK if network == "egress" else ()):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind-data", str(files.data(PASSWD.encode())), "/etc/passwd"]
    args += ["--ro-bind-data", str(files.data(GROUP.encode())), "/etc/group"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    args += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    args += ["--size", str(workspace_bytes), "--tmpfs", WORKSPACE]
    if layout.python.root is not None:
        args += ["--ro-bind-fd", str(files.directory(layout.python.root)), python_env.JAIL_PREFIX]
    if layout.font_cache is not None:
        name, content = layout.font_cache
        args += ["--ro-bind-data", str(files.data(content)), f"{MPLCONFIGDIR}/{name}"]
    args += ["--ro-bind-data", str(files.data(INIT_SOURCE)), INIT]
    args += ["--ro-bind-data", str(files.data(code.encode())), CODE[language]]
    args += ["--chdir", WORKSPACE, "--clearenv"]
    for name, value in environment(layout, language).items():
        args += ["--setenv", name, value]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]  # tmpfs of bwrap's the code could otherwise fill: memory without bound
    return [*args, "--", layout.python.python, "-I", "-S", INIT, *init_args]


def command(layout: Layout, language: str) -> list[str]:
    """What the init runs: the code's file, by its interpreter."""
    if language == "python":
        return [layout.python.python, CODE["python"]]
    return [layout.shell, CODE["shell"]]
