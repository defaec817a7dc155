"""soma/startup.py: `soma` imports with the garbage collector off, and every process gets it back."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx

from tests import procs
from tests.conftest import ADMIN_KEY


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_soma_command_imports_with_the_collector_off() -> None:
    assert _python("from soma import cli; import gc; print(gc.isenabled())") == "False"


def test_done_freezes_what_start_up_made_and_turns_the_collector_on_once() -> None:
    code = "from soma import cli, startup; import gc; startup.done(); frozen = gc.get_freeze_count(); startup.done(); print(gc.isenabled(), frozen > 10_000, gc.get_freeze_count() == frozen)"
    assert _python(code) == "True True True"


def test_a_command_that_never_says_it_is_loaded_gets_the_collector_back_from_the_backstop() -> None:
    code = "from soma import startup; import gc, time; startup.BACKSTOP_SECONDS = 0.2; startup.begin(); off = gc.isenabled(); time.sleep(1); print(off, gc.isenabled())"
    assert _python(code) == "False True"


def test_a_running_gateway_collects_garbage(database_url: str, launcher: procs.Launcher) -> None:
    port = procs.free_port()
    env = procs.soma_env(database_url, port=str(port), slm_base_url="http://127.0.0.1:9/v1", slm_api_key="k", bootstrap_admin_key=ADMIN_KEY)
    gateway = launcher.soma("gateway", env)
    url = f"http://127.0.0.1:{port}"
    procs.wait_healthy(url, gateway)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        before = _young_collections(client)
        for _ in range(100):
            assert client.get("/v1/sessions").status_code == 200
        assert _young_collections(client) > before  # the collector runs: start-up turned it back on


def _young_collections(client: httpx.Client) -> float:
    metrics = client.get("/metrics").text
    return float(re.search(r'^python_gc_collections_total\{generation="0"\} (\S+)$', metrics, re.M)[1])
