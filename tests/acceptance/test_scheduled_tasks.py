"""Scheduled tasks on real processes: one turn per due time across workers and a SIGKILL, signed webhooks retried, downtime under soma up."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.server
import json
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import psycopg
import pytest

from soma.schedules import scheduler
from tests import procs
from tests.acceptance import up
from tests.conftest import ADMIN

TWO_SECONDS = {"cron": "* * * * * */2"}  # six fields: the seconds are the last
TURN = {"chunks": [f"w{i} " for i in range(8)], "delay": 0.25}  # a turn of two seconds: runs overlap, and one can be cut
ANSWER = "".join(TURN["chunks"])


def _create(stack, **fields) -> dict:
    response = stack.client.post(f"{stack.url}/v1/tasks", json={"name": "Every two seconds", "prompt": "Tick?"} | fields)
    assert response.status_code == 201, response.text
    return response.json()


def _runs(stack, task_id: str) -> list[dict]:
    return stack.client.get(f"{stack.url}/v1/tasks/{task_id}/runs").json()["runs"]


def _mid_turn(workers: list[procs.Proc], slm_port: int) -> procs.Proc | None:
    """A worker streaming a turn now: it holds a connection to the scripted SLM."""
    for worker in workers:
        connections = psutil.Process(worker.popen.pid).net_connections(kind="tcp")
        if any(c.raddr and c.raddr.port == slm_port and c.status == psutil.CONN_ESTABLISHED for c in connections):
            return worker
    return None


def test_a_task_every_two_seconds_runs_once_per_due_time_on_three_workers_one_killed_mid_run(stack) -> None:
    stack.slm.script(default=TURN)
    workers = stack.workers(3)
    task = _create(stack, schedule=TWO_SECONDS, missed="run_once")
    slm_port = int(stack.slm.base_url.split(":")[2].split("/")[0])

    victim = procs.wait_until(lambda: _mid_turn(workers, slm_port), 30, "a worker to stream a scheduled turn", interval=0.05)
    cut = {r["id"] for r in _runs(stack, task["id"]) if r["outcome"] == "running"}
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    # The cut turn runs again once its worker counts as dead (5 s here); the others keep ticking meanwhile.
    procs.wait_until(lambda: all(r["outcome"] == "answered" for r in _runs(stack, task["id"]) if r["id"] in cut), 60, "the cut runs to end")
    procs.wait_until(lambda: sum(r["outcome"] == "answered" for r in _runs(stack, task["id"]) if r["id"] > max(cut)) >= 3, 60, "3 later runs")
    assert stack.client.patch(f"{stack.url}/v1/tasks/{task['id']}", json={"paused": True}).status_code == 200
    stack.wait_no_job_left()

    runs = sorted(_runs(stack, task["id"]), key=lambda r: r["due_at"])
    due = [datetime.datetime.fromisoformat(r["due_at"]) for r in runs]
    assert [(b - a).total_seconds() for a, b in zip(due, due[1:])] == [2.0] * (len(due) - 1)  # every due time, each once
    assert [(r["outcome"], r["late"], r["reason"]) for r in runs] == [("answered", False, None)] * len(runs)
    with psycopg.connect(stack.database_url) as conn:
        per_run = conn.execute(
            """SELECT r.id, count(DISTINCT m.id) FILTER (WHERE m.role = 'user'), count(DISTINCT m.id) FILTER (WHERE m.role = 'assistant'),
                      count(DISTINCT e.id) FILTER (WHERE e.type = 'turn.started'), min(m.content) FILTER (WHERE m.role = 'assistant')
                 FROM task_runs r JOIN messages m ON m.session_id = r.session_id JOIN session_events e ON e.session_id = r.session_id
                WHERE r.task_id = %s GROUP BY r.id""",
            (task["id"],),
        ).fetchall()
    assert len(per_run) == len(runs) and len({r["session_id"] for r in runs}) == len(runs)  # a new chat for each
    for run_id, asked, answered, started, answer in per_run:
        assert (asked, answered, answer) == (1, 1, ANSWER), run_id  # one turn answered each run
        assert started == (2 if run_id in cut else 1), run_id  # the cut one started again, and answered once


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook endpoint: records each POST, answers the next of `statuses` (then 200)."""

    received: list[tuple[dict[str, str], bytes]]
    statuses: list[int]

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(self.statuses.pop(0) if self.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "statuses": [500]})  # the first attempt fails
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()


def test_a_run_is_posted_signed_to_its_webhook_a_failed_attempt_retried_and_a_members_private_address_refused(stack, receiver) -> None:
    url, endpoint = receiver
    made = stack.client.post(f"{stack.url}/v1/keys", json={"name": "member", "scopes": ["chat"]}).json()
    member = {"Authorization": f"Bearer {made['key']}"}
    stack.worker()
    task = _create(stack, schedule={"every_seconds": 3600}, webhook_url=url)  # an admin's task may post to this machine
    run = stack.client.post(f"{stack.url}/v1/tasks/{task['id']}/run").json()["run"]
    body = {"name": "Leak", "prompt": "x", "schedule": {"every_seconds": 3600}, "webhook_url": url}
    leak = stack.client.post(f"{stack.url}/v1/tasks", json=body, headers=member).json()
    stack.client.post(f"{stack.url}/v1/tasks/{leak['id']}/run", headers=member)

    delivered = procs.wait_until(
        lambda: next((r for r in _runs(stack, task["id"]) if (r["webhook"] or {}).get("status") == "delivered"), None), 60, "the delivery"
    )
    refused = procs.wait_until(lambda: next((r for r in _runs(stack, leak["id"]) if (r["webhook"] or {}).get("attempts")), None), 60, "an attempt")

    assert len(endpoint.received) == 2  # the admin's two attempts; nothing from the member's task
    headers, sent = endpoint.received[-1]
    assert headers["X-Soma-Signature"] == "sha256=" + hmac.new(task["webhook_secret"].encode(), sent, hashlib.sha256).hexdigest()
    assert headers["Content-Type"] == "application/json" and endpoint.received[0][1] == sent  # the retry sent the same bytes
    assert json.loads(sent) == {
        "task_id": task["id"], "run_id": run["id"], "due_at": run["due_at"], "outcome": "answered", "session_id": run["session_id"],
        "answer": "Hello from the scripted SLM.",
    }  # fmt: skip
    webhook = delivered["webhook"]
    assert (webhook["attempts"], webhook["error"], webhook["delivered_at"] is not None) == (2, None, True)
    assert [(h["attempt"], h["status"], h["error"]) for h in webhook["history"]] == [(1, 500, "HTTP 500"), (2, 200, None)]
    assert (refused["webhook"]["status"], refused["webhook"]["history"][0]["status"]) == ("retrying", None)
    assert refused["webhook"]["error"] == (
        "refused: 127.0.0.1 resolves to 127.0.0.1, which is not a public address; only an admin's tasks may post there"
    )


def test_soma_up_stopped_past_due_times_applies_each_tasks_missed_policy_when_started_again(data_dir, launcher, slm) -> None:
    env = {"slm_base_url": slm.base_url, "slm_api_key": "k", "slm_model": "scripted"}
    url, proc = up.start(data_dir, launcher, **env)
    tasks = {}
    for missed in ("skip", "run_once"):
        response = httpx.post(url + "v1/tasks", headers=ADMIN, json={"name": missed, "prompt": "Tick?", "schedule": TWO_SECONDS, "missed": missed})
        tasks[missed] = response.json()["id"]
    procs.wait_until(lambda: all(_answered(url, task) for task in tasks.values()), 60, "both tasks to run under soma up")
    proc.signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    stopped = time.time()

    # Down for longer than the grace: the due times meanwhile were missed (the wall clock is the database's, on this machine).
    procs.wait_until(lambda: time.time() > stopped + scheduler.GRACE_SECONDS + 2, 30, "the due times to be missed", interval=0.2)
    url, proc = up.start(data_dir, launcher, **env)
    procs.wait_until(lambda: all(_after_downtime(url, task) >= 2 for task in tasks.values()), 60, "two runs of each after the restart")

    for missed, task_id in tasks.items():
        runs = sorted(httpx.get(f"{url}v1/tasks/{task_id}/runs", headers=ADMIN).json()["runs"], key=lambda r: r["due_at"])
        due = [datetime.datetime.fromisoformat(r["due_at"]).timestamp() for r in runs]
        [jump] = [i for i in range(1, len(due)) if due[i] - due[i - 1] != 2]  # every 2 s but once, over the downtime
        assert due[jump] - due[jump - 1] > scheduler.GRACE_SECONDS
        # The run before the jump is the first due time missed: skipped, or run late; every other ran on time.
        expected = [(False, False)] * len(runs)
        expected[jump - 1] = (True, False) if missed == "skip" else (False, True)
        assert [(r["outcome"] == "skipped", r["late"]) for r in runs] == expected, missed
        if missed == "skip":
            assert runs[jump - 1]["reason"].startswith("Missed: due at ") and runs[jump - 1]["session_id"] is None


def _answered(url: str, task_id: str) -> bool:
    runs = httpx.get(f"{url}v1/tasks/{task_id}/runs", headers=ADMIN).json()["runs"]
    return any(r["outcome"] == "answered" for r in runs)


def _after_downtime(url: str, task_id: str) -> int:
    """How many of the task's runs are due after the jump over the downtime (0 before it)."""
    runs = httpx.get(f"{url}v1/tasks/{task_id}/runs", headers=ADMIN).json()["runs"]
    due = sorted(datetime.datetime.fromisoformat(r["due_at"]).timestamp() for r in runs)
    jumps = [i for i in range(1, len(due)) if due[i] - due[i - 1] > scheduler.GRACE_SECONDS]
    return len(due) - jumps[0] if jumps else 0
