"""The Dockerfile builds one hardened image whose `soma` commands are the ones the charts run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import charts

DOCKERFILE = charts.ROOT / "Dockerfile"
# Every command a chart starts the image with: gateway, worker, migrations, the local SLM.
CHART_COMMANDS = [["gateway"], ["worker"], ["migrate"], ["slm", "serve"]]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        steps.append((keyword.upper(), arguments.strip()))
    return steps


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last:]


def only(stage: list[tuple[str, str]], keyword: str) -> str:
    [arguments] = [a for k, a in stage if k == keyword]
    return arguments


def test_the_image_is_built_in_stages_from_slim_python_311() -> None:
    froms = [a for k, a in instructions() if k == "FROM"]
    assert len(froms) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in [f"{k} {a}" for k, a in instructions()]
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms if f != "${CLOUDFLARED_IMAGE} AS cloudflared")


def test_the_image_carries_cloudflared_from_cloudflares_image_for_the_tunnel_supervisor() -> None:
    assert "ARG CLOUDFLARED_IMAGE=cloudflare/cloudflared:latest" in [f"{k} {a}" for k, a in instructions()]
    assert ("COPY", "--from=cloudflared /usr/local/bin/cloudflared /usr/local/bin/cloudflared") in final_stage()


def test_torch_comes_from_the_cpu_index_and_the_rest_as_prebuilt_wheels_from_the_constraints() -> None:
    runs = [a for k, a in instructions() if k == "RUN"]
    assert any("--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in r for r in runs)
    assert any('pip install -c constraints.txt ".[local-slm]"' in r for r in runs)
    assert any("pip install --only-binary=:all: -c constraints.txt -r /tmp/requirements.txt" in r for r in runs)
    assert not any("build-essential" in r or "cmake" in r for r in runs)  # prebuilt wheels: nothing to compile
    assert "ARG LOCAL_SLM=1" in [f"{k} {a}" for k, a in instructions()]


def test_the_image_runs_as_uid_10001() -> None:
    assert only(final_stage(), "USER") == "10001:10001"


def test_the_environment_serves_on_all_interfaces_from_data() -> None:
    env = only(final_stage(), "ENV").split()
    for setting in ("SOMA_HOST=0.0.0.0", "SOMA_PORT=8080", "SOMA_DATA_DIR=/data", "SOMA_LOG_FORMAT=json",
                    "HF_HUB_OFFLINE=1", "HOME=/tmp"):  # fmt: skip
        assert setting in env


def test_the_healthcheck_asks_the_gateway_health_endpoint_with_python() -> None:
    healthcheck = only(final_stage(), "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/health" in command[2]


def test_the_entrypoint_is_soma_and_the_default_command_the_gateway() -> None:
    stage = final_stage()
    assert json.loads(only(stage, "ENTRYPOINT")) == ["soma"]
    assert json.loads(only(stage, "CMD")) == ["gateway"]


def test_the_charts_start_the_image_with_these_commands_only() -> None:
    commands = set()
    for chart in charts.CHARTS:
        for manifest in charts.rendered(chart, "dev"):
            if manifest["kind"] in ("Deployment", "Job", "StatefulSet"):
                spec = charts.container(manifest)
                if spec["image"] == "agent-zero:dev":
                    args = spec["args"]
                    commands.add(tuple(args[: next((i for i, a in enumerate(args) if a.startswith("-")), len(args))]))
    assert commands == {tuple(c) for c in CHART_COMMANDS}


@pytest.mark.parametrize("command", [*CHART_COMMANDS, ["tunnel", "run"]], ids=" ".join)
def test_each_chart_command_is_a_soma_command(command: list[str]) -> None:
    soma = Path(sys.executable).parent / "soma"
    result = subprocess.run([soma, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
