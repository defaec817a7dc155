"""`soma up`: the embedded all-in-one, as a user starts it."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from soma.db import schema
from soma.sandbox import client, protocol
from soma.slm import local
from tests import procs
from tests.acceptance import up
from tests.conftest import ADMIN
from tests.procs import read_events


def _soma_beside(data_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = procs.soma_env("", data_dir=str(data_dir))
    del env["SOMA_DATABASE_URL"]
    return procs.run_soma(env, command)


def _chat(url: str, text: str) -> list[dict]:
    return _chat_in(url, None, text)[1]


def test_up_migrates_serves_and_answers_then_stops_cleanly(data_dir, launcher, slm) -> None:
    door = procs.free_port()
    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted", tunnel_origin_port=str(door))

    assert f"migrated: soma empty -> {schema.head()}" in proc.output()
    origin = httpx.get(url + "v1/tunnel", headers=ADMIN).json()["origin"]
    assert origin == f"http://127.0.0.1:{door}"  # its gateway's tunnel door, where its supervisor would point cloudflared
    assert httpx.get(origin + "/health").json() == {"status": "ok"}
    page = httpx.get(url, headers={"Accept": "text/html"}, follow_redirects=True)
    assert (page.status_code, page.url.path) == (200, "/login")  # the web UI, behind its login page
    assert _chat(url, "Hi")[-1]["data"]["message"]["content"] == "Hello from the scripted SLM."
    beside = _soma_beside(data_dir, "migrate")  # another command finds the embedded server by SOMA_DATA_DIR
    assert (beside.returncode, beside.stdout) == (0, "schema is current\n"), beside.stderr
    assert httpx.get(url + "ready").status_code == 200  # and left it running

    proc.signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_soma_up_gives_the_sandbox_key_to_the_worker_only_and_the_sandbox_no_database_url(data_dir, launcher, slm) -> None:
    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted")
    up.wait_all_ready(url, proc)  # the sandbox among the children /ready names
    soma_up = psutil.Process(proc.popen.pid)
    env = {name: psutil.Process(up.child_pid(soma_up, data_dir, name)).environ() for name in ("sandbox", "worker", "gateway", "tunnel")}

    key = env["sandbox"]["SOMA_SANDBOX_KEY"]
    assert len(key) == 64 and env["worker"]["SOMA_SANDBOX_KEY"] == key
    assert "SOMA_SANDBOX_KEY" not in env["gateway"] and "SOMA_SANDBOX_KEY" not in env["tunnel"]
    assert sorted(name for name in env["sandbox"] if name.startswith("SOMA_")) == [
        "SOMA_LOG_LEVEL", "SOMA_SANDBOX_HOST", "SOMA_SANDBOX_KEY", "SOMA_SANDBOX_PORT"]  # no database URL, no SLM key
    sandbox = client.Sandbox(env["worker"]["SOMA_SANDBOX_URL"], key)
    assert asyncio.run(_stdout(sandbox, "print(6 * 7)")) == "42\n"
    assert httpx.get(url + "ready").json()["checks"]["sandbox"] == "ok"


async def _stdout(sandbox: client.Sandbox, code: str) -> str:
    events = [event async for event in sandbox.run(protocol.RunRequest("python", code))]
    return "".join(event.text for event in events if isinstance(event, protocol.Output) and event.stream == "stdout")


def test_up_stopped_while_it_starts_stops_everything_it_started(data_dir, launcher, slm) -> None:
    env = procs.soma_env("", data_dir=str(data_dir), port=str(procs.free_port()), slm_base_url=slm.base_url, slm_api_key="k")
    del env["SOMA_DATABASE_URL"]
    proc = launcher.start("up", [sys.executable, "-m", "soma", "up"], env)
    up = psutil.Process(proc.popen.pid)
    gateway = procs.wait_until(lambda: _child(up, "gateway"), 60, "soma up to start its gateway", interval=0.01)
    started = up.children(recursive=True)

    proc.signal(signal.SIGTERM)  # the gateway takes a second or more to be ready: this lands before it is

    assert proc.wait(60) == 0, proc.output()
    assert "Soma is ready" not in proc.output()
    assert gateway in started and not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def _child(parent: psutil.Process, command: str) -> psutil.Process | None:
    for child in parent.children():
        try:
            if child.cmdline()[-2:] == ["soma", command]:
                return child
        except psutil.NoSuchProcess:
            pass
    return None


def test_up_a_second_time_keeps_the_chats_and_the_files_their_code_wrote(data_dir, launcher, slm) -> None:
    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted")
    slm.script(_run_code("shell", "echo 'kept across restarts' > notes.txt"), {"chunks": ["Written."]})
    session, events = _chat_in(url, None, "Remember me")
    [written] = [e["data"] for e in events if e["event"] == "tool.finished"]
    assert written["ok"] is True, written["result"]
    proc.signal(signal.SIGTERM)
    proc.wait(60)

    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted")

    assert "migrated:" not in proc.output()
    titles = [s["title"] for s in httpx.get(url + "v1/sessions", headers=ADMIN).json()["sessions"]]
    assert titles == ["Remember me"]
    slm.script(_run_code("shell", "cat notes.txt"), {"chunks": ["Read."]})
    _, events = _chat_in(url, session, "What did you write?", answers=2)
    read = [e["data"] for e in events if e["event"] == "tool.finished"][-1]
    assert "kept across restarts" in read["result"]


def _run_code(language: str, code: str) -> dict:
    return {"chunks": ["Running."], "tool_calls": [{"name": "run_code", "arguments": {"language": language, "code": code}}]}


def _chat_in(url: str, session: str | None, text: str, answers: int = 1) -> tuple[str, list[dict]]:
    """Send `text` into `session` (a new chat when None); the chat's id and its events up to its `answers`-th answer."""
    with httpx.Client(base_url=url, timeout=120, headers=ADMIN) as http:
        session = session or http.post("/v1/sessions", json={}).json()["id"]
        sent = http.post(f"/v1/sessions/{session}/messages", json={"content": text})
        sent.raise_for_status()
        answered = lambda es: sum(e["event"] in ("assistant.message", "turn.failed") for e in es) >= answers  # noqa: E731
        return session, read_events(http, f"/v1/sessions/{session}/events", answered, timeout=120)


def test_up_prints_a_one_time_setup_link_while_nobody_can_log_in(data_dir, launcher, slm) -> None:
    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted")

    link = procs.wait_until(lambda: re.search(rf"{re.escape(url)}setup#(\S+)", proc.output()), 30, "the setup link")
    body = {"token": link.group(1), "username": "admin", "password": "a long admin password"}
    assert httpx.post(url + "v1/auth/setup", json=body).status_code == 200
    assert httpx.post(url + "v1/auth/setup", json=body).status_code == 410  # used once
    login = httpx.post(url + "v1/auth/login", json={"username": "admin", "password": "a long admin password"})
    assert login.status_code == 200 and login.json()["role"] == "admin"
    proc.signal(signal.SIGTERM)
    proc.wait(60)

    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted")
    assert "setup#" not in proc.output()  # an account exists: no link


def test_up_without_an_slm_configured_chats_with_the_local_gemma(local_slm_extra, data_dir, launcher) -> None:
    url, proc = up.start(data_dir, launcher, slm_max_tokens="24")  # a short answer: generating 512 tokens on 2 cores takes long

    events = _chat(url, "What is the capital of France?")

    assert events[-1]["event"] == "assistant.message", events[-1]
    answer = events[-1]["data"]["message"]
    assert answer["content"].strip() and answer["meta"]["model"] == local.MODEL_ALIAS
    assert any(e["event"] == "assistant.delta" for e in events)
    assert (data_dir / "slm" / "api-key").stat().st_mode & 0o777 == 0o600
    slm_url = next(line for line in proc.output().splitlines() if line.startswith("local SLM at "))[13:]
    assert slm_url.startswith("http://127.0.0.1:")
    assert httpx.get(slm_url + "/models").status_code == 401  # the local SLM wants its key
