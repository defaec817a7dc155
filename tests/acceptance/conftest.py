"""A running stack for acceptance tests: real `soma gateway` and `soma worker` processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests import procs
from tests.acceptance import up
from tests.conftest import ADMIN, ADMIN_KEY


@dataclass
class Stack:
    """A gateway process's URL and the means to start more processes against the same database.

    The gateway starts when a test first asks for `url`: many tests only need the database and the
    environment (CLI commands, workers), and each gateway costs about a second of CPU to start.
    """

    database_url: str
    slm: procs.ScriptedSLM
    launcher: procs.Launcher
    client: httpx.Client
    _url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url, _ = self.gateway()
        return self._url

    @url.setter
    def url(self, url: str) -> None:
        """The gateway the stack's helpers talk to: one the test started with its own settings."""
        self._url = url

    def env(self, **overrides: object) -> dict[str, str]:
        defaults = {
            "slm_base_url": self.slm.base_url,
            "slm_api_key": "test-key",
            "bootstrap_admin_key": ADMIN_KEY,
            "slm_model": "scripted",
            "slm_backoff_seconds": "0.05",
            "slm_read_timeout": "3",
            # A killed worker's turns run again after the drain plus 3 heartbeats (config.Settings.worker_stalled_threshold):
            # 5 s here. A test that lets turns finish on SIGTERM asks for a longer drain.
            "worker_drain_seconds": "2",
            "worker_heartbeat_seconds": "1",
            "sse_keepalive_seconds": "1",
            "worker_metrics_port": "0",  # many workers share this machine; a test that scrapes picks a free port
        }
        defaults.update({k: str(v) for k, v in overrides.items()})
        return procs.soma_env(self.database_url, **defaults)

    def worker(self, **overrides: object) -> procs.Proc:
        [proc] = self.workers(1, **overrides)
        return proc

    def workers(self, count: int, **overrides: object) -> list[procs.Proc]:
        """`count` workers started together: on a loaded machine each takes seconds to start."""
        started = [self.launch_worker(**overrides) for _ in range(count)]
        for proc in started:
            self.wait_ready(proc)
        return started

    def launch_worker(self, **overrides: object) -> procs.Proc:
        """A worker started but not waited for (wait_ready): it starts while the test does something else."""
        return self.launcher.soma("worker", self.env(**overrides))

    def wait_ready(self, proc: procs.Proc) -> None:
        """Until the worker takes jobs (its tool servers connected or failed: worker/process.py)."""
        procs.wait_until(lambda: "worker ready" in proc.output() or not proc.alive(), 30, "the worker to start")
        assert proc.alive(), proc.output()

    def wait_connected(self, worker: procs.Proc, *servers: str) -> None:
        """Until the worker has connected to each of these tool servers (configured before or after it started)."""
        lines = [f"tool server '{name}': connected" for name in servers]
        procs.wait_until(lambda: all(line in worker.output() for line in lines), 30, f"the worker to connect to {', '.join(servers)}")

    def tool_servers(self, **entries: dict) -> dict:
        """Configure exactly these MCP servers (PUT /v1/tools/servers) and check the gateway's probe connected each."""
        response = self.client.put(f"{self.url}/v1/tools/servers", json={"mcpServers": entries})
        assert response.status_code == 200, response.text
        overview = response.json()
        assert [(s["name"], s["state"], s["error"]) for s in overview["servers"]] == [(name, "connected", None) for name in sorted(entries)]
        return overview

    def gateway(self, **overrides: object) -> tuple[str, procs.Proc]:
        port = procs.free_port()
        proc = self.launcher.soma("gateway", self.env(port=port, **overrides))
        url = f"http://127.0.0.1:{port}"
        procs.wait_healthy(url, proc)
        return url, proc

    def new_session(self) -> str:
        response = self.client.post(self.url + "/v1/sessions", json={})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def send(self, session_id: str, content: str) -> dict:
        response = self.client.post(f"{self.url}/v1/sessions/{session_id}/messages", json={"content": content})
        assert response.status_code == 202, response.text
        return response.json()

    def messages(self, session_id: str) -> list[dict]:
        return self.client.get(f"{self.url}/v1/sessions/{session_id}/messages").json()["messages"]

    def wait_no_job_left(self, timeout: float = 60) -> None:
        """Until no job is queued or running: from then on no answer can be stored, a late duplicate included."""

        with psycopg.connect(self.database_url, autocommit=True) as conn:  # one connection for every look
            none_left = lambda: conn.execute("SELECT NOT EXISTS (SELECT FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))").fetchone()[0]  # noqa: E731
            procs.wait_until(none_left, timeout, "no job left queued or running", interval=0.2)

    def events(self, session_id: str, until, after: int = 0, timeout: float = 30) -> list[dict]:
        url = f"{self.url}/v1/sessions/{session_id}/events?after={after}"
        return procs.read_events(self.client, url, until, timeout=timeout)


@pytest.fixture
def stack(database_url: str, slm: procs.ScriptedSLM, launcher: procs.Launcher) -> Stack:
    """A gateway process on this test's database, started on first use of `url` (start workers with stack.worker())."""
    # No kept-alive connections: a request sent just as uvicorn closes an idle one (after 5 s) fails
    # with "Server disconnected", and httpx does not retry it (browsers do).
    with httpx.Client(timeout=30, headers=ADMIN, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        yield Stack(database_url, slm, launcher, client)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory for `soma up`; request it before `launcher`, so the processes stop first."""
    yield from up.new_data_dir()
