"""Install packages into a venv with uv, from the indexes, links and constraints pip is configured with.

    python scripts/pip_install.py VENV [--into OTHER_VENV] [pip install arguments…]

With --into, VENV's uv installs into OTHER_VENV (the sandbox's environment, which has no pip or uv of
its own: the agent's code runs with it).

pip took 60–85 s to install the suite's dependencies on a fresh clone (two cores); uv takes about
20 s for the same set, from the same places. uv does not read pip's configuration, so this reads it
(`pip config list`: files and PIP_* variables) and hands uv the same index URLs, find-links,
constraints, certificate bundle and timeout. Like pip, uv here may take a version from any index
(`unsafe-best-match`): the machine's local indexes hold versions pypi.org may not. uv itself is
pinned in constraints.txt and installed with pip once per venv.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pip_config(venv: Path) -> dict[str, str]:
    """pip's effective settings (`global.` and `install.` keys, and PIP_* variables), by name."""
    listed = subprocess.run([venv / "bin" / "pip", "config", "list"], capture_output=True, text=True, check=True).stdout
    scopes: dict[str, dict[str, str]] = {"global": {}, "install": {}, ":env:": {}}  # later ones win, as in pip
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if scope in scopes:
            scopes[scope][name] = " ".join(shlex.split(value))  # pip prints each value quoted
    return {name: value for settings in scopes.values() for name, value in settings.items()}


def uv_environment(pip: dict[str, str]) -> dict[str, str]:
    """uv's variables for the same places pip installs from."""
    env = {"UV_INDEX_STRATEGY": "unsafe-best-match", "VIRTUAL_ENV": ""}
    if "index-url" in pip:
        env["UV_DEFAULT_INDEX"] = pip["index-url"]
    if "extra-index-url" in pip:
        env["UV_INDEX"] = pip["extra-index-url"]  # space-separated, as pip has them
    if "find-links" in pip:
        env["UV_FIND_LINKS"] = ",".join(pip["find-links"].split())
    if "constraint" in pip:
        env["UV_CONSTRAINT"] = pip["constraint"]
    if "cert" in pip:
        env["SSL_CERT_FILE"] = pip["cert"]
    if "default-timeout" in pip or "timeout" in pip:
        env["UV_HTTP_TIMEOUT"] = pip.get("default-timeout") or pip["timeout"]
    if os.environ.get("PIP_NO_CACHE_DIR", "").lower() in ("1", "true", "yes", "on"):
        env["UV_NO_CACHE"] = "1"
    return env


def main(venv: Path, arguments: list[str], target: Path | None = None) -> int:
    uv = venv / "bin" / "uv"
    if not uv.exists():
        subprocess.run([venv / "bin" / "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", "uv"], check=True)
    env = {**os.environ, **uv_environment(pip_config(venv))}
    command = [str(uv), "pip", "install", "--quiet", "--python", str((target or venv) / "bin" / "python"), *arguments]
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    args = sys.argv[2:]
    into = Path(args[1]) if args[0] == "--into" else None
    sys.exit(main(Path(sys.argv[1]), args[2:] if into else args, into))
