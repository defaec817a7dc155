"""LiteLLM proxy in front of the scripted SLM, for bench/turn_latency.py's side-by-side figures.

LiteLLM is never a dependency of Soma: it is installed on first use into its own virtual
environment, bench/.litellm-venv (ignored by git), pinned to the version the figures in the
closing notes were measured with.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import httpx

from tests import procs

VERSION = "1.108.7"
VENV = Path(__file__).resolve().parent / ".litellm-venv"
EXECUTABLE = VENV / "bin" / "litellm"
MODEL = "scripted"
KEY = "sk-bench-litellm"  # the proxy's own master key: clients present it as LiteLLM users do

CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {slm_url}
      api_key: bench
litellm_settings:
  telemetry: false
  drop_params: true
general_settings:
  master_key: {key}
"""


def ensure_installed() -> Path:
    """The proxy's executable, installing `litellm[proxy]` into VENV first when it is missing (about a minute)."""
    if EXECUTABLE.exists():
        return EXECUTABLE
    print(f"installing litellm[proxy]=={VERSION} into {VENV} (once) …", flush=True)
    venv.create(VENV, with_pip=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"litellm[proxy]=={VERSION}"]
    subprocess.run(pip, check=True)
    return EXECUTABLE


def start(launcher: procs.Launcher, slm_url: str, folder: Path) -> str:
    """Start one proxy process (one uvicorn worker, as Soma's gateway is one process) and return its base URL."""
    executable = ensure_installed()
    config = folder / "litellm.yaml"
    config.write_text(CONFIG.format(model=MODEL, slm_url=slm_url, key=KEY))
    port = procs.free_port()
    env = {"PATH": f"{VENV / 'bin'}:/usr/bin:/bin", "HOME": str(folder), "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    argv = [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    proc = launcher.start("litellm", argv, env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise RuntimeError(f"litellm exited:\n{proc.output()[-3000:]}")
        try:
            return httpx.get(url + "/health/liveliness", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    procs.wait_until(up, 120, "the LiteLLM proxy")
    return url + "/v1"


if __name__ == "__main__":
    print(ensure_installed(), file=sys.stderr)
