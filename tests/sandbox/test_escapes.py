"""The threats of docs/security.md ("Running the agent's code"), each tried through POST /v1/runs of a real `soma sandbox`.

Every test ends by showing the service still serves: whatever a run did, the next one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from pathlib import Path

import httpx

from soma.sandbox import jail, protocol
from tests import procs, sandboxes
from tests.sandboxes import Service

ROOT = Path(__file__).resolve().parents[2]


async def test_etc_shadow_the_data_directory_and_the_home_directories_are_out_of_sight(sandbox: Service, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "postgres").mkdir(parents=True)
    (data_dir / "postgres" / "pg_hba.conf").write_text("local all all trust\n")
    data_dir.chmod(0o755)  # world-readable on the host: the jail still does not have it
    hidden = ["/etc/shadow", "/etc/gshadow", "/root", "/home", str(ROOT), sys.prefix, str(data_dir), str(data_dir / "postgres" / "pg_hba.conf")]
    code = f"""
import os
for path in {hidden!r}:
    print(path, os.path.exists(path))
print("tmp holds", os.listdir("/tmp"))
try:
    open("/etc/shadow").read()
except OSError as exc:
    print(type(exc).__name__)
"""
    ran = await sandboxes.run(sandbox, "python", code)

    assert ran.stdout == "".join(f"{path} False\n" for path in hidden) + "tmp holds ['matplotlib']\nFileNotFoundError\n"
    assert ran.result.exit_code == 0
    await sandboxes.still_serves(sandbox)


async def test_the_services_environment_and_key_never_reach_the_code(sandbox: Service) -> None:
    code = """
import os
print(sorted(os.environ))
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    for name in ("environ", "cmdline"):
        try:
            print(pid, name, open(f"/proc/{pid}/{name}", "rb").read())
        except OSError as exc:
            print(pid, name, type(exc).__name__)
"""
    ran = await sandboxes.run(sandbox, "python", code)

    names = sorted([*jail.environment(_layout(), "python"), "PWD"])
    assert ran.stdout.splitlines()[0] == str(names)
    assert [line.split()[:2] for line in ran.stdout.splitlines()[1:]] == [["1", "environ"], ["1", "cmdline"], ["2", "environ"], ["2", "cmdline"]]
    assert sandboxes.SECRET not in ran.stdout + ran.stderr
    assert sandbox.key not in ran.stdout + ran.stderr
    await sandboxes.still_serves(sandbox)


async def test_a_run_sees_only_the_files_sent_with_it_never_another_runs(sandbox: Service) -> None:
    first = sandbox.client().run(protocol.RunRequest("python", _WRITE_AND_WAIT, [("mine.txt", b"first run's")]))
    async with contextlib.aclosing(first) as events:
        async for event in events:  # the first run holds its secret file while the second looks for it
            if isinstance(event, protocol.Output) and "written" in event.text:
                break
        concurrent = await sandboxes.run(sandbox, "shell", _LOOK, files=[("theirs.txt", b"second run's")])
    later = await sandboxes.run(sandbox, "shell", _LOOK)

    assert concurrent.stdout == "./theirs.txt\nsecond run's"
    assert later.stdout == ""
    await sandboxes.still_serves(sandbox)


_WRITE_AND_WAIT = """
import time
open("secret.txt", "w").write("the first run's secret")
print("written", flush=True)
time.sleep(600)
"""
_LOOK = "find . -type f; cat ./*.txt 2>/dev/null; find / -name 'secret.txt' -o -name 'mine.txt' 2>/dev/null"


async def test_no_address_answers_without_egress_neither_a_local_port_nor_the_outside(sandbox: Service) -> None:
    with _listener("127.0.0.1") as database, _listener("0.0.0.0") as gateway:
        targets = [("127.0.0.1", _port(database)), (_host_address(), _port(gateway)), ("127.0.0.1", int(sandbox.url.rsplit(":", 1)[1])),
                   ("1.1.1.1", 443), ("169.254.169.254", 80)]  # fmt: skip
        ran = await sandboxes.run(sandbox, "python", _CONNECT.format(targets=targets))

        assert ran.stdout.splitlines() == [
            f"{targets[0]} ECONNREFUSED",  # the jail's own loopback, where nothing listens
            f"{targets[1]} ENETUNREACH",
            f"{targets[2]} ECONNREFUSED",
            f"{targets[3]} ENETUNREACH",
            f"{targets[4]} ENETUNREACH",
        ]
        assert not _accepted(database) and not _accepted(gateway)
    await sandboxes.still_serves(sandbox)


async def test_with_egress_the_code_shares_the_services_network(sandbox: Service) -> None:
    with _listener("127.0.0.1") as local:
        ran = await sandboxes.run(sandbox, "python", _CONNECT.format(targets=[("127.0.0.1", _port(local))]), network="egress")

        assert ran.stdout == f"{('127.0.0.1', _port(local))} connected\n"
        assert _accepted(local)


_CONNECT = """
import errno, socket
for address in {targets!r}:
    try:
        socket.create_connection(address, timeout=5).close()
        print(address, "connected")
    except OSError as exc:
        print(address, errno.errorcode.get(exc.errno, exc))
"""


async def test_a_fork_bomb_is_held_to_its_process_limit_and_the_service_keeps_serving(sandbox: Service) -> None:
    counted = await sandboxes.run(sandbox, "python", _COUNT_FORKS)
    bomb = await sandboxes.run(sandbox, "shell", "exec bash -c 'b() { b | b & }; b; while :; do :; done' fork-bomb-0471", timeout_seconds=3)

    assert int(counted.stdout) == 62  # 64 processes in all: the jail's init, the code, and 62 children
    assert (bomb.result.reason, bomb.result.message) == ("timeout", "Stopped after 3 s, the run's time limit.")
    assert "fork: retry: Resource temporarily unavailable" in bomb.stderr
    assert sandboxes.running(sandbox, "fork-bomb-0471") == []  # every process of it, gone with its result
    await sandboxes.still_serves(sandbox)


_COUNT_FORKS = """
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
except BlockingIOError:
    print(children)
"""


async def test_a_memory_hog_ends_with_reason_memory(sandbox: Service) -> None:
    ran = await sandboxes.run(sandbox, "python", "hog = bytearray(2 * 1024**3)", memory_mb=256)

    assert (ran.result.exit_code, ran.result.reason, ran.result.message) == (1, "memory", "The run ran out of memory: its limit is 256 MiB.")
    assert ran.stderr.endswith("MemoryError\n")
    await sandboxes.still_serves(sandbox)


async def test_a_memory_hog_spread_over_many_processes_is_stopped_at_the_runs_limit(sandbox: Service) -> None:
    code = """exec python - memory-hog-0472 <<'EOF'
import os, time
for _ in range(8):
    if os.fork() == 0:
        held = bytearray(200 * 1024 * 1024)
        held[::4096] = b"x" * len(held[::4096])  # every page touched: resident, not only reserved
        time.sleep(600)
time.sleep(600)
EOF"""
    ran = await sandboxes.run(sandbox, "shell", code, memory_mb=256)  # each of the 9 processes stays under 256 MiB

    assert (ran.result.exit_code, ran.result.reason, ran.result.message) == (None, "memory", "The run ran out of memory: its limit is 256 MiB.")
    assert sandboxes.running(sandbox, "memory-hog-0472") == []
    await sandboxes.still_serves(sandbox)


async def test_a_disk_filler_stops_at_the_workspace_quota_with_reason_workspace_full(sandbox: Service) -> None:
    code = "with open('filler', 'wb') as f:\n    while True:\n        f.write(bytes(1024 * 1024))"
    ran = await sandboxes.run(sandbox, "python", code, workspace_mb=5, files=[("kept.csv", b"a,b\n")])

    assert (ran.result.exit_code, ran.result.reason, ran.result.message) == (1, "workspace_full", "The workspace is full: its limit is 5 MiB.")
    assert "No space left on device" in ran.stderr
    [(path, data)] = ran.result.changed
    assert path == "filler" and 0 < len(data) <= 5 * protocol.MiB
    assert ran.result.deleted == []
    await sandboxes.still_serves(sandbox)


async def test_an_endless_loop_is_killed_at_its_timeout_with_all_its_processes(sandbox: Service) -> None:
    code = "import subprocess\nsubprocess.Popen(['sleep', '3600.0461'])\nwhile True:\n    pass"
    ran = await sandboxes.run(sandbox, "python", code, timeout_seconds=2)

    assert (ran.result.exit_code, ran.result.reason, ran.result.message) == (None, "timeout", "Stopped after 2 s, the run's time limit.")
    assert sandboxes.running(sandbox, "3600.0461") == []
    await sandboxes.still_serves(sandbox)


async def test_writing_outside_the_workspace_fails_and_changes_nothing_on_the_host(sandbox: Service) -> None:
    places = ["/usr/x", "/etc/x", "/x", "/opt/soma-sandbox/x", "/run/soma/x", "/dev/x", "/proc/x", "/opt/soma-sandbox/lib/x"]
    code = "".join(f"echo x > {place} 2>/dev/null && echo wrote {place}\n" for place in places) + "echo y > /tmp/y && echo wrote /tmp/y"
    before = sorted(path.name for path in (ROOT / ".venv-sandbox").iterdir())
    ran = await sandboxes.run(sandbox, "shell", code)

    assert ran.stdout == "wrote /tmp/y\n"
    assert ran.result.changed == []
    assert sorted(path.name for path in (ROOT / ".venv-sandbox").iterdir()) == before
    await sandboxes.still_serves(sandbox)


async def test_a_symlink_to_a_host_file_never_comes_back_as_a_file_or_its_targets_bytes(sandbox: Service) -> None:
    code = "rm notes.txt; ln -s /etc/passwd notes.txt; ln -s /proc/self/environ env; ln -s / root; mkfifo pipe; echo ok > plain.txt"
    ran = await sandboxes.run(sandbox, "shell", code, files=[("notes.txt", b"my notes")])

    assert ran.result.exit_code == 0
    assert ran.result.changed == [("plain.txt", b"ok\n")]
    assert ran.result.deleted == ["notes.txt"]
    await sandboxes.still_serves(sandbox)


async def test_a_file_named_dot_dot_is_refused_with_422_naming_the_field(sandbox: Service) -> None:
    body = {"language": "python", "code": "print(1)", "files": [{"path": "../../x", "data": "eA=="}]}
    async with httpx.AsyncClient() as http:
        response = await http.post(sandbox.url + "/v1/runs", json=body, headers=sandbox.headers)

    assert response.status_code == 422
    assert response.json() == {"error": {"code": "invalid_run_request", "message": "Field 'files[0].path' '../../x' has a '..' part."
                                         " Nothing was run. Send a run as docs/architecture.md (\"The sandbox\") describes it."}}  # fmt: skip
    await sandboxes.still_serves(sandbox)


async def test_a_100_mb_output_is_capped_at_64_kib_per_stream_and_the_service_stays_responsive(sandbox: Service) -> None:
    code = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1024 * 1024)\nprint('the end', file=sys.stderr)"
    events = sandbox.client().run(protocol.RunRequest("python", code))
    health = []
    stdout = ""
    async with httpx.AsyncClient() as http, contextlib.aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, protocol.Output):
                stdout += event.text if event.stream == "stdout" else ""
                health.append((await http.get(sandbox.url + "/health")).status_code)  # answered while the run prints
            else:
                result = event

    assert stdout == "x" * protocol.OUTPUT_CAP
    assert (result.exit_code, result.stdout_truncated, result.stderr_truncated) == (0, True, False)
    assert health and set(health) == {200}
    _, rss = _memory(sandbox)
    assert rss < 300 * protocol.MiB  # nothing held the 100 MB
    await sandboxes.still_serves(sandbox)


async def test_a_request_body_over_the_limit_is_refused_with_413(sandbox: Service) -> None:
    status, body = await _declare_a_huge_body(sandbox, protocol.MAX_BODY_BYTES + 1)
    async with httpx.AsyncClient() as http:
        over_quota = await http.post(sandbox.url + "/v1/runs", headers=sandbox.headers, json={
            "language": "python", "code": "", "workspace_mb": 1, "files": [{"path": "big", "data": "A" * (2 * protocol.MiB)}]})  # fmt: skip

    assert status == b"HTTP/1.1 413 Request Entity Too Large"  # answered before the body came
    assert json.loads(body)["error"]["code"] == "run_request_too_large"
    assert over_quota.status_code == 413
    assert over_quota.json()["error"]["message"].startswith("The files hold 1572864 bytes, more than workspace_mb=1.")
    await sandboxes.still_serves(sandbox)


async def test_the_code_has_no_privilege_to_gain(sandbox: Service) -> None:
    code = """
import errno, os, subprocess
status = dict(line.split(":\\t") for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
print(status["NoNewPrivs"], status["CapEff"], status["CapBnd"])
for attempt in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.chroot("/tmp")):
    try:
        attempt()
        print("allowed")
    except OSError as exc:
        print(errno.errorcode[exc.errno])
for command in (["unshare", "--user", "true"], ["su", "-c", "id"], ["mount", "-t", "tmpfs", "none", "/tmp"]):
    print(command[0], "refused" if subprocess.run(command, capture_output=True).returncode else "allowed")
"""
    ran = await sandboxes.run(sandbox, "python", code)

    assert ran.stdout == "1 0000000000000000 0000000000000000\nEINVAL\nEINVAL\nEPERM\nunshare refused\nsu refused\nmount refused\n"
    await sandboxes.still_serves(sandbox)


async def test_killing_every_process_it_can_see_ends_only_its_own_run(sandbox: Service) -> None:
    other = sandbox.client().run(protocol.RunRequest("shell", "sleep 3600.0451 &\necho waiting\nwait"))
    async with contextlib.aclosing(other) as events:
        async for event in events:
            if isinstance(event, protocol.Output) and "waiting" in event.text:
                break
        await procs.eventually(lambda: sandboxes.running(sandbox, "3600.0451"), 10, "the other run's sleep")
        ran = await sandboxes.run(sandbox, "shell", "sleep 3600.0452 &\nkill -9 -1\nwait\necho only this shell and its init are left")
        others, own = sandboxes.running(sandbox, "3600.0451"), sandboxes.running(sandbox, "3600.0452")

    assert (ran.stdout, ran.result.exit_code) == ("only this shell and its init are left\n", 0)
    assert others and not own  # the other run's process lives on
    assert sandbox.proc.alive()
    await sandboxes.still_serves(sandbox)


async def test_closing_the_stream_kills_the_run_and_its_processes(sandbox: Service) -> None:
    code = "sleep 3600.0453 &\necho started\nwait"
    async with contextlib.aclosing(sandbox.client().run(protocol.RunRequest("shell", code))) as events:
        async for event in events:
            if isinstance(event, protocol.Output) and "started" in event.text:
                break
        # the background sleep runs (once its fork has exec'd) while the stream is open
        await procs.eventually(lambda: sandboxes.running(sandbox, "3600.0453"), 10, "the run's sleep")

    await procs.eventually(lambda: sandboxes.running(sandbox, "3600.0453") == [], 10, "the run's processes to be killed")
    await sandboxes.still_serves(sandbox)


async def test_a_wrong_or_missing_key_is_refused_with_401(sandbox: Service) -> None:
    refused = {"error": {"code": "sandbox_unauthorized", "message": "Send the sandbox's key as `Authorization: Bearer <SOMA_SANDBOX_KEY>`."}}
    async with httpx.AsyncClient() as http:
        answers = [
            await http.post(sandbox.url + "/v1/runs", json={"language": "shell", "code": "touch /workspace/x"}),
            await http.post(sandbox.url + "/v1/runs", json={"language": "shell", "code": "true"}, headers={"Authorization": "Bearer " + "0" * 64}),
            await http.get(sandbox.url + "/v1/check", headers={"Authorization": sandbox.key}),
            await http.get(sandbox.url + "/anything"),
        ]

    assert [(answer.status_code, answer.json()) for answer in answers] == [(401, refused)] * 4
    assert (await sandbox.client().check()) is None


async def _declare_a_huge_body(service: Service, length: int) -> tuple[bytes, bytes]:
    """POST /v1/runs declaring `length` bytes and sending one: the status line and the body of the answer."""
    host, port = service.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /v1/runs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {service.key}\r\nContent-Length: {length}\r\n\r\n{{"
    writer.write(head.encode())
    await writer.drain()
    answer = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    size = next(int(line.split(b":")[1]) for line in answer if line.lower().startswith(b"content-length:"))
    body = await reader.readexactly(size)
    writer.close()
    return answer[0], body


def _layout() -> jail.Layout:
    from soma.sandbox import python_env

    return jail.Layout("bwrap", python_env.PythonEnv(Path("/x"), "/opt/soma-sandbox/bin/python"), "/usr/bin/bash")


@contextlib.contextmanager
def _listener(host: str):
    server = socket.create_server((host, 0))
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()


def _port(server: socket.socket) -> int:
    return server.getsockname()[1]


def _accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
        return True
    except BlockingIOError:
        return False


def _host_address() -> str:
    """An address of this host other than loopback: the one its default route leaves by."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # a UDP connect sends nothing; it only picks the route
        return probe.getsockname()[0]


def _memory(service: Service) -> tuple[int, int]:
    import psutil

    info = psutil.Process(service.proc.popen.pid).memory_info()
    return info.vms, info.rss

