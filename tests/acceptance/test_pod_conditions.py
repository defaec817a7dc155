"""Every long-running command and `soma migrate` start under a pod's conditions (tests/confined.py).

A `/tmp` world-writable without the sticky bit (Kubernetes' emptyDir), a read-only root filesystem,
a uid no /etc/passwd knows, and no XDG_RUNTIME_DIR: under the charts every `soma` process crashed
at import once, because the embedded server's library asked platformdirs for a runtime directory.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import psycopg

from soma import config
from tests import confined, procs, sandboxes
from tests.deploy import charts, pods


def _bridge(database_url: str) -> tuple[confined.SocketBridge, str]:
    """A TCP address for the test PostgreSQL (its socket directory is its system user's alone), as a URL."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    bridge = confined.SocketBridge(f"{info['host']}/.s.PGSQL.{info.get('port', 5432)}")
    return bridge, f"postgresql://{info['user']}@127.0.0.1:{bridge.port}/{info['dbname']}"


def _start(launcher: procs.Launcher, name: str, args: list[str], env: dict[str, str], uid: int = confined.UID) -> procs.Proc:
    argv = confined.confine([procs.sys.executable, "-m", "soma", *args], uid)
    return launcher.start(name, argv, confined.pod_environment(env))


def _logged(proc: procs.Proc, line: str) -> bool:
    assert proc.alive(), f"{proc.name} exited under a pod's conditions:\n{proc.output()}"
    return line in proc.output()


def _answers(url: str, proc: procs.Proc) -> bool:
    assert proc.alive(), f"{proc.name} exited under a pod's conditions:\n{proc.output()}"
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_migrate_gateway_worker_tunnel_and_slm_start_as_an_unknown_uid_with_a_non_sticky_tmp_and_a_read_only_root(
    database_url: str, slm: procs.ScriptedSLM, launcher: procs.Launcher
) -> None:
    bridge, url = _bridge(database_url)
    try:
        env = procs.soma_env(url, slm_base_url=slm.base_url, slm_api_key="pod-key", data_dir="/tmp/soma",
                             worker_metrics_port=0, tunnel_metrics_port=0, worker_drain_seconds=2)  # fmt: skip
        migrate = _start(launcher, "migrate", ["migrate"], env)
        assert migrate.wait(120) == 0, migrate.output()
        port, slm_port = procs.free_port(), procs.free_port()
        gateway = _start(launcher, "gateway", ["gateway"], {**env, "SOMA_PORT": str(port)})
        worker = _start(launcher, "worker", ["worker"], env)
        tunnel = _start(launcher, "tunnel", ["tunnel", "run"], env)
        local_slm = _start(launcher, "slm", ["slm", "serve", "--port", str(slm_port)], env)
        procs.wait_until(lambda: _answers(f"http://127.0.0.1:{port}/ready", gateway), 90, "the confined gateway's /ready")
        procs.wait_until(lambda: _logged(worker, "worker ready"), 90, "the confined worker")
        procs.wait_until(lambda: _logged(tunnel, "tunnel supervisor ready"), 90, "the confined tunnel supervisor")
        procs.wait_until(lambda: _logged(local_slm, "local SLM ready"), 120, "the confined local SLM")
        for proc in (gateway, worker, tunnel, local_slm):
            assert "Traceback" not in proc.output(), proc.output()
    finally:
        # The processes stop first, while their database still answers: behind a bridge that stopped
        # forwarding, the worker and the tunnel supervisor waited on it until SIGKILL, 30 s later.
        launcher.stop_all()
        bridge.close()


def test_soma_up_runs_its_embedded_postgresql_with_a_non_sticky_tmp_and_a_read_only_root(
    slm: procs.ScriptedSLM, launcher: procs.Launcher
) -> None:
    up = _start(launcher, "up", ["up"], _embedded_env(slm), uid=NOBODY)
    procs.wait_until(lambda: _logged(up, "Soma is ready"), 150, "`soma up` under a pod's conditions")
    assert "Traceback" not in up.output(), up.output()


def test_the_embedded_postgresql_refuses_an_unknown_uid_in_one_line_naming_the_way_out(
    slm: procs.ScriptedSLM, launcher: procs.Launcher
) -> None:
    migrate = _start(launcher, "migrate", ["migrate"], _embedded_env(slm))
    assert migrate.wait(60) == 1
    assert migrate.output().strip().splitlines()[-1] == (
        f"error: PostgreSQL will not run as uid {confined.UID}, which /etc/passwd does not name (a container's arbitrary uid): "
        "run as a user the system knows, or set SOMA_DATABASE_URL to a server of your own. The embedded PostgreSQL server "
        "could not start. Read its log in SOMA_DATA_DIR/postgres/log, or set SOMA_DATABASE_URL to use another server."
    )


NOBODY = 65534  # a uid every Debian system names: PostgreSQL looks its own uid up


def _embedded_env(slm: procs.ScriptedSLM) -> dict[str, str]:
    """Settings for the embedded server, in SOMA_DATA_DIR on the pod's /tmp."""
    env = procs.soma_env("", slm_base_url=slm.base_url, slm_api_key="pod-key", data_dir="/tmp/soma", port=procs.free_port(),
                         worker_metrics_port=0, tunnel_metrics_port=0, worker_drain_seconds=2)  # fmt: skip
    del env["SOMA_DATABASE_URL"]
    return env


async def test_the_charts_sandbox_runs_code_in_jails_as_uid_10001_for_the_worker_holding_the_same_key(
    launcher: procs.Launcher, tmp_path: Path
) -> None:
    manifests = charts.rendered("soma-infra", "dev") + charts.rendered("soma-stack", "dev")  # one namespace, as the runbook installs them
    port = procs.free_port()
    hosts = {"http://sandbox:8790": f"http://127.0.0.1:{port}"}  # the Service, as the worker names it
    pod = pods.prepare(charts.find(manifests, "Deployment", "sandbox"), manifests, tmp_path / "sandbox", hosts)
    worker = pods.prepare(charts.find(manifests, "Deployment", "conversation-worker"), manifests, tmp_path / "worker", hosts)
    # The one path that cannot exist here: the image's /opt/soma-sandbox is this machine's sandbox Python.
    assert pod.env["SOMA_SANDBOX_PYTHON"] == "/opt/soma-sandbox/bin/python"
    pod.env.update(SOMA_SANDBOX_PORT=str(port), SOMA_SANDBOX_PYTHON=str(config.Settings(_env_file=None).sandbox_python))

    proc = launcher.start("sandbox", confined.confine(pod.argv), confined.pod_environment(pod.env))
    service = sandboxes.Service(worker.env["SOMA_SANDBOX_URL"], worker.env["SOMA_SANDBOX_KEY"], proc)
    procs.wait_until(lambda: _answers(f"{service.url}/health", proc), 60, "the confined sandbox's /health")

    assert psutil.Process(proc.popen.pid).uids().real == confined.UID
    assert await service.client().check() is None
    ran = await sandboxes.run(service, "python", "import numpy, os\nprint(os.getuid(), numpy.arange(4).sum())\nopen('out.txt', 'w').write('made')",
                              files=[("in.txt", b"given")])  # fmt: skip
    assert (ran.stdout, ran.stderr, ran.result.exit_code, ran.result.changed) == ("65534 6\n", "", 0, [("out.txt", b"made")])
    assert "Traceback" not in proc.output()
