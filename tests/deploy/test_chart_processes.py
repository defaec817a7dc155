"""The charts' rendered commands run as local processes against real PostgreSQL, OpenBao and an SLM.

values-dev.yaml is rendered as the runbook installs it; the OpenBao setup hook, the migration
hook, the gateway, the conversation worker and the sandbox then run with the rendered command,
arguments, environment and Secret files. The probes' paths must answer and a turn must complete, so the
charts and the application cannot drift apart.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from soma import config
from tests import procs
from tests.deploy import charts, pods
from tests.deploy.test_dashboard import dashboard_metric_names
from tests.observability.scrape import Scrape


def _probe_url(base: str, workload: charts.Manifest, kind: str) -> str:
    return base + charts.container(workload)[kind]["httpGet"]["path"]


def test_the_rendered_dev_stack_runs_answers_its_probes_and_completes_a_turn(database_url, slm, vault, launcher, tmp_path: Path) -> None:
    infra, stack = charts.rendered("soma-infra", "dev"), charts.rendered("soma-stack", "dev")
    manifests = infra + stack  # one namespace: the stack mounts soma-infra's Secrets
    gateway_port, metrics_port, sandbox_port = procs.free_port(), procs.free_port(), procs.free_port()
    openbao_host = charts.values("dev")["global"]["services"]["openbao"]
    hosts = {
        f"{openbao_host}:8200": vault.addr.removeprefix("http://"),
        "http://slm:8000/v1": slm.base_url,
        "http://sandbox:8790": f"http://127.0.0.1:{sandbox_port}",
    }
    # The dev OpenBao's root token, as soma-infra renders it, exists on the test server too.
    root_token = pods.secret_value(infra, openbao_host, "root-token")
    vault.client.auth.token.create(id=root_token, policies=["root"], ttl="1h")
    dev_key = charts.values("dev")["openbao"]["kv"]["slmApiKey"]
    slm.script(default={"key": dev_key})

    done = pods.run_openbao_setup(infra, manifests, tmp_path / "setup", hosts)
    assert done.returncode == 0, done.stdout + done.stderr
    assert vault.value() == dev_key

    migrate = pods.prepare(charts.find(stack, "Job", "soma-migrate"), manifests, tmp_path / "migrate", hosts)
    _use_test_database(migrate, database_url)
    migrated = subprocess.run(migrate.argv, env=migrate.env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr

    gateway = charts.find(stack, "Deployment", "gateway")
    worker = charts.find(stack, "Deployment", "conversation-worker")
    sandbox = charts.find(stack, "Deployment", "sandbox")
    started = {}
    pod = pods.prepare(sandbox, manifests, tmp_path / "sandbox", hosts)
    pod.env.update(SOMA_SANDBOX_PORT=str(sandbox_port), SOMA_SANDBOX_PYTHON=str(config.Settings(_env_file=None).sandbox_python))
    started["sandbox"] = (launcher.start("sandbox", pod.argv, pod.env), pod)
    for name, workload, port_env, port in (("gateway", gateway, "SOMA_PORT", gateway_port), ("worker", worker, "SOMA_WORKER_METRICS_PORT", metrics_port)):
        pod = pods.prepare(workload, manifests, tmp_path / name, hosts)
        _use_test_database(pod, database_url)
        pod.env.update({port_env: str(port), "SOMA_HOST": "127.0.0.1"})
        pod.env["SOMA_DATA_DIR"] = str(tmp_path / name / "data")  # each pod's own: they share only the database
        started[name] = (launcher.start(name, pod.argv, pod.env), pod)

    base = f"http://127.0.0.1:{gateway_port}"
    procs.wait_healthy(base, started["gateway"][0], timeout=60)
    assert httpx.get(_probe_url(base, gateway, "livenessProbe")).status_code == 200
    ready = httpx.get(_probe_url(base, gateway, "readinessProbe"))
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    worker_base = f"http://127.0.0.1:{metrics_port}"
    procs.wait_until(lambda: _answers(_probe_url(worker_base, worker, "livenessProbe"), started["worker"][0]), 60, "the worker's liveness probe")
    sandbox_base = started["worker"][1].env["SOMA_SANDBOX_URL"]  # where the worker finds it
    for probe in ("readinessProbe", "livenessProbe"):
        procs.wait_until(lambda probe=probe: _answers(_probe_url(sandbox_base, sandbox, probe), started["sandbox"][0]), 60, f"the sandbox's {probe}")

    admin_key = Path(started["gateway"][1].env["SOMA_BOOTSTRAP_ADMIN_KEY_FILE"]).read_text().strip()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as client:
        session = client.post("/v1/sessions", json={}).json()["id"]
        client.post(f"/v1/sessions/{session}/messages", json={"content": "Hello from the chart"}).raise_for_status()
        events = procs.read_events(client, f"/v1/sessions/{session}/events", procs.has_event("assistant.message"), timeout=60)
        gateway_metrics = Scrape(client.get("/metrics").text)
    assert events[-1]["data"]["message"]["content"] == "Hello from the scripted SLM."
    assert slm.requests()[-1]["authorization"] == f"Bearer {dev_key}"  # read from OpenBao, as the chart says

    worker_metrics = Scrape(httpx.get(worker_base + "/metrics").text)
    exported = {name for name, _ in gateway_metrics.samples} | {name for name, _ in worker_metrics.samples}
    missing = {name for name in dashboard_metric_names() if not any(s.startswith(name) for s in exported)}
    assert missing == set(), f"dashboard panels query metrics Soma does not export: {missing}"


def _use_test_database(pod: pods.LocalPod, database_url: str) -> None:
    """The one translation beyond host names: the test PostgreSQL listens on a Unix socket, not soma-infra-postgresql:5432."""
    assert pod.env["SOMA_DATABASE_URL"].startswith("postgresql+psycopg://soma@soma-infra-postgresql:5432/")
    pod.env["SOMA_DATABASE_URL"] = database_url


def _answers(url: str, proc: procs.Proc) -> bool:
    assert proc.alive(), proc.output()
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
