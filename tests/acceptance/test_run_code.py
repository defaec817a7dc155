"""run_code as an SLM asks for it: real gateway, worker and sandbox processes, real bubblewrap.

Each hostile program is one step of a turn, as a prompt-injected model would send it; each must
end with a clear result, leak nothing of the host or of Soma, and leave Soma serving.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.procs import has_event, pid_alive, wait_until

WORKER_SECRET = "worker-secret-4f1c"  # in the worker's environment, where no run may read it


@pytest.fixture
def coder(stack, sandbox):
    """The stack with a worker that reaches the sandbox service; returns the stack."""
    stack.sandbox = sandbox
    env = stack.env(sandbox_url=sandbox.url, sandbox_key=sandbox.key) | {"WORKER_MARKER": WORKER_SECRET}
    stack.code_worker = stack.launcher.soma("worker", env)
    stack.wait_ready(stack.code_worker)
    return stack


def _settings(stack, **changes) -> None:
    response = stack.client.put(f"{stack.url}/v1/settings", json=changes)
    assert response.status_code == 200, response.text


def _runs(stack, session: str, *programs: tuple[str, str], content: str = "Run these.") -> list[dict]:
    """Send a message whose turn runs each (language, code) as its own step; the data of each run's tool.finished."""
    steps = [{"chunks": [f"Run {n}."], "tool_calls": [{"name": "run_code", "arguments": {"language": lang, "code": code}}]}
             for n, (lang, code) in enumerate(programs, 1)]  # fmt: skip
    stack.slm.script(*steps, {"chunks": ["Done."]})
    stack.send(session, content)  # into a new chat: its events from the first are this turn's
    events = stack.events(session, has_event("assistant.message"), timeout=120)
    finished = [e["data"] for e in events if e["event"] == "tool.finished"]
    assert len(finished) == len(programs), [e["event"] for e in events]
    return finished


def _files(stack, session: str) -> dict[str, dict]:
    response = stack.client.get(f"{stack.url}/v1/sessions/{session}/files")
    assert response.status_code == 200, response.text
    return {f["path"]: f for f in response.json()["files"]}


def test_run_code_is_offered_and_its_output_streams_into_the_chat(coder) -> None:
    session = coder.new_session()
    [run] = _runs(coder, session, ("python", "import sys\nprint('hello from the sandbox')\nprint('careful', file=sys.stderr)"))

    assert run["ok"] is True and run["details"]["exit_code"] == 0, run
    assert "hello from the sandbox" in run["result"] and "careful" in run["result"]
    events = coder.events(session, has_event("assistant.message"))
    printed = [(e["data"]["stream"], e["data"]["text"]) for e in events if e["event"] == "tool.output"]
    assert ("stdout", "hello from the sandbox\n") in printed or "hello from the sandbox" in "".join(t for s, t in printed if s == "stdout")
    assert all(e["data"]["call_id"] == run["call_id"] for e in events if e["event"] == "tool.output")
    offered = [t["function"]["name"] for t in coder.slm.requests()[0]["body"]["tools"]]
    assert "run_code" in offered


def test_files_written_by_code_are_kept_with_the_chat_and_read_by_the_next_run(coder) -> None:
    session = coder.new_session()
    chart = (
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "frame = pd.DataFrame({'x': [1, 2, 3], 'y': [2, 4, 8]})\n"
        "frame.to_csv('numbers.csv', index=False)\n"
        "frame.plot(x='x', y='y'); plt.savefig('chart.png')\n"
        "print(frame['y'].sum())"
    )
    first, second = _runs(coder, session, ("python", chart), ("shell", "wc -l < numbers.csv && rm numbers.csv"))

    assert "14" in first["result"]
    assert sorted(f["path"] for f in first["details"]["files"]) == ["chart.png", "numbers.csv"]
    assert "4" in second["result"] and second["details"]["deleted"] == ["numbers.csv"]
    kept = _files(coder, session)
    assert list(kept) == ["chart.png"]
    download = coder.client.get(f"{coder.url}/v1/sessions/{session}/files/chart.png")
    assert download.content.startswith(b"\x89PNG") and download.headers["x-content-type-options"] == "nosniff"


def test_a_run_reads_nothing_of_the_host_or_of_soma(coder) -> None:
    with psycopg.connect(coder.database_url) as conn:
        data_directory = conn.execute("SHOW data_directory").fetchone()[0]
    shadow = Path("/etc/shadow").read_text().splitlines()[0] if os.access("/etc/shadow", os.R_OK) else "root:"
    session = coder.new_session()
    runs = _runs(
        coder, session,
        ("shell", "cat /etc/shadow; echo status=$?"),
        ("shell", f"ls -la {data_directory} 2>&1; echo status=$?"),
        ("shell", "tr '\\0' '\\n' < /proc/1/environ; env; echo status=$?"),
        ("python", "import os\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n        try: print(open(f'/proc/{pid}/environ').read())\n        except OSError as e: print(e)"),
        ("shell", "ls / /home /root /work 2>&1; echo status=$?"),
    )  # fmt: skip

    text = "\n".join(r["result"] for r in runs)
    assert shadow not in text
    for leak in (WORKER_SECRET, "SOMA_", coder.database_url, "test-key", data_directory + "/base"):
        assert leak not in text, leak
    assert "status=0" not in runs[0]["result"]  # /etc/shadow could not be read


def test_a_run_reaches_no_network_and_writes_nowhere_but_its_workspace(coder) -> None:
    with psycopg.connect(coder.database_url) as conn:
        pg_port = int(conn.execute("SHOW port").fetchone()[0])
        pg_socket = conn.execute("SHOW unix_socket_directories").fetchone()[0].split(",")[0] + f"/.s.PGSQL.{pg_port}"
    gateway_port = int(coder.url.rsplit(":", 1)[1])
    probe = (
        "import socket\n"
        f"for host, port in [('127.0.0.1', {pg_port}), ('127.0.0.1', {gateway_port}), ('1.1.1.1', 443), ('10.0.2.2', 80)]:\n"
        "    try:\n        socket.create_connection((host, port), timeout=2); print('CONNECTED', host, port)\n"
        "    except OSError as e:\n        print('refused', host, port, e)\n"
        f"try:\n    socket.socket(socket.AF_UNIX).connect({pg_socket!r}); print('CONNECTED', 'unix')\n"
        "except OSError as e:\n    print('refused unix', e)"
    )
    session = coder.new_session()
    outside = Path("/tmp") / f"escaped-{os.getpid()}"
    net, writes = _runs(
        coder, session, ("python", probe),
        ("shell", f"touch /usr/x /x {outside} ../../x /tmp/ok 2>&1; ln -s /etc/passwd link; ls -la"),
    )  # fmt: skip

    assert "CONNECTED" not in net["result"] and net["result"].count("refused ") == 5
    assert not outside.exists() and not Path("/usr/x").exists() and not Path("/x").exists()
    assert "link" not in _files(coder, session)
    assert coder.client.get(f"{coder.url}/v1/sessions/{session}/files/link").status_code == 404


def test_runaway_programs_are_stopped_with_a_clear_result_and_soma_keeps_serving(coder) -> None:
    _settings(coder, sandbox_timeout_seconds=2, workspace_max_mb=10, sandbox_memory_mb=256)
    session = coder.new_session()
    runs = _runs(
        coder, session,
        ("shell", ":(){ :|:& };:\nsleep 30"),  # the bomb goes on while the run waits
        ("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"),
        ("shell", "dd if=/dev/zero of=filler bs=1M count=50 2>&1; echo status=$?"),
        ("python", "while True:\n    pass"),
        ("shell", "head -c 100000000 /dev/zero | tr '\\0' 'y'"),
        ("python", "print(6 * 7)"),
    )  # fmt: skip

    fork, memory, disk, loop, flood, sane = runs
    assert fork["ok"] is False and fork["details"]["reason"] == "timeout", fork["result"]
    assert memory["ok"] is False and ("MemoryError" in memory["result"] or memory["details"]["reason"] == "memory")
    assert "No space left" in disk["result"]  # the quota is the jail's own: the filler stops there, the host's disk untouched
    assert sum(f["size"] for f in _files(coder, session).values()) <= 10 * 1024 * 1024
    assert loop["details"]["reason"] == "timeout" and "limit" in loop["result"]
    assert "cut at 64 KiB" in flood["result"] and len(flood["result"]) < 20000
    assert sane["ok"] is True and "42" in sane["result"]
    assert coder.client.get(f"{coder.url}/health").status_code == 200


def test_a_stop_kills_the_running_code(coder, tmp_path: Path) -> None:
    session = coder.new_session()
    coder.slm.script({"chunks": ["Working."], "tool_calls": [{"name": "run_code", "arguments": {
        "language": "shell", "code": "echo started; echo $$ > pid; while true; do sleep 0.1; done"}}]}, {"chunks": ["Stopped."]})  # fmt: skip
    coder.send(session, "Loop forever.")
    coder.events(session, lambda events: any(e["event"] == "tool.output" for e in events), timeout=60)
    assert coder.client.post(f"{coder.url}/v1/sessions/{session}/stop").status_code in (200, 202)

    events = coder.events(session, lambda es: any(e["event"] in ("assistant.message", "turn.failed") for e in es), timeout=60)
    [finished] = [e["data"] for e in events if e["event"] == "tool.finished"]
    assert finished["error"] == "stopped"
    wait_until(lambda: not _jailed_loops(), 20, "the stopped run's processes to be gone")


def _jailed_loops() -> list[int]:
    """Host pids of shells running the test's endless loop."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"while true; do sleep 0.1" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in found if pid_alive(pid)]


def _not_offered(stack) -> str:
    """Answer one message; check the SLM was not offered run_code, and return why GET /v1/tools says it is not."""
    session = stack.new_session()
    stack.slm.script({"chunks": ["Fine."]})
    stack.send(session, "Compute something.")
    stack.events(session, has_event("assistant.message"), timeout=60)
    offered = [t["function"]["name"] for t in stack.slm.requests()[-1]["body"].get("tools", [])]
    assert "run_code" not in offered
    [tool] = [t for t in stack.client.get(f"{stack.url}/v1/tools").json()["tools"] if t["name"] == "run_code"]
    assert tool["available"] is False
    return tool["reason"]


def test_run_code_is_not_offered_when_code_execution_is_off_and_says_why(coder) -> None:
    _settings(coder, code_execution="off")
    assert "code_execution" in _not_offered(coder)


def test_a_worker_without_a_sandbox_offers_no_run_code_and_says_why(stack) -> None:
    stack.worker()
    assert "SOMA_SANDBOX_URL" in _not_offered(stack)


def test_the_worker_hands_the_sandbox_nothing_of_its_own_environment(coder) -> None:
    """The worker's process environment holds the marker; the sandbox service's must not."""
    pid = coder.code_worker.popen.pid
    assert WORKER_SECRET.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    assert WORKER_SECRET.encode() not in Path(f"/proc/{coder.sandbox.proc.popen.pid}/environ").read_bytes()
