"""soma-infra's OpenBao, run from its rendered StatefulSet: the dev SLM key survives the pod stopping and starting again.

Runbook 5 once scaled OpenBao to zero with everything else, and it came back empty: every turn
failed with slm_auth until `helm upgrade` ran its setup Job again. The server here is the venv's
`bao` started with the rendered command and config, its volume a local directory kept across starts.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import hvac

from tests import procs
from tests.deploy import charts, pods
from tests.openbao import bao_binary


def _start(pod: pods.LocalPod, config: Path, launcher: procs.Launcher, addr: str) -> procs.Proc:
    proc = launcher.start("openbao", [bao_binary(), pod.argv[1], f"-config={config}"], pod.env)

    def unsealed() -> bool:
        assert proc.alive(), proc.output()
        try:
            return httpx.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    procs.wait_until(unsealed, 60, "OpenBao to initialise or unseal itself")
    return proc


def _local_config(pod: pods.LocalPod, port: int, cluster_port: int) -> Path:
    """The rendered config.hcl with the pod's paths and ports made local ones."""
    text = Path(pod.local_path("/openbao/config/config.hcl")).read_text()
    for path in ("/openbao/data", "/openbao/seal"):
        text = text.replace(path, pod.local_path(path))
    text = text.replace("0.0.0.0:8200", f"127.0.0.1:{port}").replace("127.0.0.1:8201", f"127.0.0.1:{cluster_port}")
    local = Path(pod.local_path("/tmp")) / "config.hcl"
    local.write_text(text)
    return local


def test_the_dev_openbao_unseals_itself_and_keeps_the_slm_key_when_its_pod_starts_again(launcher, tmp_path: Path) -> None:
    infra = charts.rendered("soma-infra", "dev")
    name = charts.values("dev")["global"]["services"]["openbao"]
    workload = charts.find(infra, "StatefulSet", name)
    pod = pods.prepare(workload, infra, tmp_path / "openbao", hosts={})
    assert pod.argv == ["bao", "server", "-config=/openbao/config/config.hcl"]
    port, cluster_port = procs.free_port(), procs.free_port()
    addr = f"http://127.0.0.1:{port}"
    config = _local_config(pod, port, cluster_port)
    root_token = pods.secret_value(infra, name, "root-token")
    dev_key = charts.values("dev")["openbao"]["kv"]["slmApiKey"]

    first = _start(pod, config, launcher, addr)
    done = pods.run_openbao_setup(infra, infra, tmp_path / "setup", {f"{name}:8200": addr.removeprefix("http://")})
    assert done.returncode == 0, done.stdout + done.stderr
    first.stop()

    _start(pod, config, launcher, addr)  # the same volume: no setup Job this time
    client = hvac.Client(url=addr, token=root_token)
    stored = client.secrets.kv.v2.read_secret_version("slm/api-key", mount_point="kv", raise_on_deleted_version=True)
    assert stored["data"]["data"] == {"value": dev_key}
    assert client.auth.token.lookup_self()["data"]["policies"] == ["root"]
