"""Running a rendered container as a local process: what the kubelet would do, minus the cluster.

Only what cannot exist here is translated: Service host names become the test servers'
addresses, container ports become free local ports, and mounted volumes become local
directories holding the same files (Secrets' keys, decoded; ConfigMaps' keys; nothing for an
emptyDir or a volume claim).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy import charts

Manifest = charts.Manifest


@dataclass
class LocalPod:
    """A container's command line, environment and mounted files, ready to start with procs.Launcher."""

    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, Path] = field(default_factory=dict)  # mountPath → local directory

    def local_path(self, path: str) -> str:
        """A path inside the container as it is here."""
        for mount, local in sorted(self.mounts.items(), key=lambda m: -len(m[0])):
            if path == mount or path.startswith(mount + "/"):
                return str(local) + path[len(mount):]
        return path


def secret_value(manifests: list[Manifest], name: str, key: str) -> str:
    """A rendered Secret's value, decoded."""
    secret = charts.find(manifests, "Secret", name)
    if key in secret.get("stringData", {}):
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


def prepare(workload: Manifest, manifests: list[Manifest], root: Path, hosts: dict[str, str]) -> LocalPod:
    """The workload's single container as a local pod; `hosts` maps in-cluster host:port to local ones."""
    spec = charts.container(workload)
    pod = LocalPod(argv=[], env={}, mounts=_mount(workload, manifests, root))
    for name, value in charts.environment(workload, manifests).items():
        if isinstance(value, dict):
            ref = value["secretKeyRef"]
            value = secret_value(manifests, ref["name"], ref["key"])
        value = str(value)
        for cluster, local in hosts.items():
            value = value.replace(cluster, local)
        pod.env[name] = pod.local_path(value) if value.startswith("/") else value
    # The image's ENTRYPOINT is `soma`; `command` would replace it.
    command = spec.get("command") or [sys.executable, "-m", "soma"]
    pod.argv = [*command, *spec.get("args", [])]
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
    pod.env = {**base, **pod.env}
    return pod


def _mount(workload: Manifest, manifests: list[Manifest], root: Path) -> dict[str, Path]:
    volumes = {v["name"]: v for v in charts.pod_spec(workload).get("volumes", [])}
    mounts: dict[str, Path] = {}
    for mount in charts.container(workload).get("volumeMounts", []):
        local = root / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        volume = volumes.get(mount["name"], {})  # a StatefulSet's claims are not among the pod's volumes
        for secret, items in _secret_sources(volume):
            for key, path in items(manifests, secret):
                (local / path).write_text(secret_value(manifests, secret, key))
        if "configMap" in volume:
            for key, text in charts.find(manifests, "ConfigMap", volume["configMap"]["name"])["data"].items():
                (local / key).write_text(text)
        mounts[mount["mountPath"]] = local
    return mounts


def run_openbao_setup(infra: list[Manifest], manifests: list[Manifest], root: Path, hosts: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """soma-infra's OpenBao setup Job, run to its end with the venv's `bao`, against the server `hosts` points at."""
    [job] = [m for m in infra if m["kind"] == "Job"]  # soma-infra's one Job
    setup = prepare(job, manifests, root, hosts)
    script = setup.argv[-1].replace("/secret/", setup.local_path("/secret") + "/")
    setup.env["PATH"] = f"{Path(sys.executable).parent}:{setup.env['PATH']}"  # bao ships in the venv
    return subprocess.run([*setup.argv[:-1], script], env=setup.env, capture_output=True, text=True, timeout=120)


def _secret_sources(volume: dict[str, Any]):
    """(Secret name, items) for a secret or projected volume; nothing for emptyDir or a claim."""
    if "secret" in volume:
        yield volume["secret"]["secretName"], _items(volume["secret"].get("items"))
    for source in volume.get("projected", {}).get("sources", []):
        if "secret" in source:
            yield source["secret"]["name"], _items(source["secret"].get("items"))


def _items(items: list[dict[str, str]] | None):
    def resolve(manifests: list[Manifest], secret: str) -> list[tuple[str, str]]:
        if items:
            return [(item["key"], item["path"]) for item in items]
        found = charts.find(manifests, "Secret", secret)
        return [(key, key) for key in {**found.get("data", {}), **found.get("stringData", {})}]

    return resolve
