"""soma-stack's objects carry the names the runbooks type and reach soma-infra's services by name."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlsplit

import pytest

from soma import config
from tests.deploy import charts

ENVS = list(charts.ENVIRONMENTS)
SECRET_NAME = re.compile(r"(?<!REQUIRE_)(KEY|TOKEN|PASSWORD|SECRET)$")  # *_FILE names carry paths; *_REQUIRE_KEY is a switch
WORKLOADS = {("Deployment", "gateway"), ("Deployment", "conversation-worker"), ("Job", "soma-migrate")}


def stack(env: str = "dev") -> list[charts.Manifest]:
    return charts.rendered("soma-stack", env)


def infra(env: str = "dev") -> list[charts.Manifest]:
    return charts.rendered("soma-infra", env)


def probe(workload: charts.Manifest, kind: str) -> tuple[str, str | int]:
    get = charts.container(workload)[kind]["httpGet"]
    return get["path"], get["port"]


@pytest.mark.parametrize("env", ENVS)
def test_the_runbook_names_exist(env: str) -> None:
    manifests = stack(env)
    charts.find(manifests, "Deployment", "gateway")
    charts.find(manifests, "Deployment", "conversation-worker")
    charts.find(manifests, "Service", "gateway")


@pytest.mark.parametrize("env", ENVS)
def test_service_gateway_sends_port_8080_to_the_gateway_pods(env: str) -> None:
    manifests = stack(env)
    service = charts.find(manifests, "Service", "gateway")
    gateway = charts.find(manifests, "Deployment", "gateway")
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    selected = [
        m["metadata"]["name"]
        for m in manifests
        if m["kind"] == "Deployment"
        and service["spec"]["selector"].items() <= m["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert selected == ["gateway"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    [container_port] = charts.container(gateway)["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 8080, "http")
    assert (container_port["name"], container_port["containerPort"]) == ("http", 8080)


@pytest.mark.parametrize("env", ENVS)
def test_gateway_is_alive_on_health_and_ready_on_ready(env: str) -> None:
    gateway = charts.find(stack(env), "Deployment", "gateway")
    assert probe(gateway, "livenessProbe") == ("/health", "http")
    assert probe(gateway, "readinessProbe") == ("/ready", "http")
    assert charts.container(gateway)["args"] == ["gateway"]


@pytest.mark.parametrize("env", ENVS)
def test_worker_serves_metrics_on_9090_and_is_probed_there(env: str) -> None:
    manifests = stack(env)
    worker = charts.find(manifests, "Deployment", "conversation-worker")
    spec = charts.container(worker)
    assert spec["args"] == ["worker"]
    assert spec["ports"] == [{"name": "metrics", "containerPort": 9090}]
    assert charts.environment(worker, manifests)["SOMA_WORKER_METRICS_PORT"] == "9090"
    assert probe(worker, "livenessProbe") == ("/metrics", "metrics")


@pytest.mark.parametrize("env", ENVS)
def test_worker_grace_period_outlasts_its_drain_and_pause(env: str) -> None:
    manifests = stack(env)
    worker = charts.find(manifests, "Deployment", "conversation-worker")
    drain = float(charts.environment(worker, manifests)["SOMA_WORKER_DRAIN_SECONDS"])
    pause = int(charts.container(worker)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert charts.pod_spec(worker)["terminationGracePeriodSeconds"] > drain + pause


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("name", ["gateway", "conversation-worker"])
def test_pods_pause_before_sigterm_and_run_locked_down(env: str, name: str) -> None:
    deployment = charts.find(stack(env), "Deployment", name)
    pod = charts.pod_spec(deployment)
    spec = charts.container(deployment)
    assert spec["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}
    assert "/data" not in mounts
    assert [v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v] == []


@pytest.mark.parametrize("env", ENVS)
def test_the_stack_keeps_nothing_on_a_volume_gateway_and_worker_share_only_the_database(env: str) -> None:
    manifests = stack(env)
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "PersistentVolumeClaim"] == []
    assert "SOMA_DATA_DIR" not in charts.find(manifests, "ConfigMap", "soma")["data"]


def test_the_migration_job_reads_the_old_knowledge_claim_only_when_named() -> None:
    values = charts.values("dev")
    plain = charts.pod_spec(charts.find(stack(), "Job", "soma-migrate"))
    values["migrations"] = {**values.get("migrations", {}), "knowledgeClaim": "soma-data"}
    job = charts.find(charts.render_values("soma-stack", values, "soma-dev"), "Job", "soma-migrate")

    assert [v["name"] for v in plain["volumes"]] == ["tmp"]
    assert charts.pod_spec(job)["volumes"][1] == {
        "name": "knowledge", "persistentVolumeClaim": {"claimName": "soma-data", "readOnly": True}
    }
    assert {"name": "knowledge", "mountPath": "/data", "readOnly": True} in charts.container(job)["volumeMounts"]
    assert {"name": "SOMA_DATA_DIR", "value": "/data"} in charts.container(job)["env"]


@pytest.mark.parametrize("env", ENVS)
def test_both_deployments_have_a_disruption_budget(env: str) -> None:
    manifests = stack(env)
    for name in ("gateway", "conversation-worker"):
        budget = charts.find(manifests, "PodDisruptionBudget", name)
        pods = charts.find(manifests, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pods.items()


@pytest.mark.parametrize("env", ENVS)
def test_migrations_run_as_a_hook_that_needs_nothing_the_release_creates_later(env: str) -> None:
    manifests = stack(env)
    job = charts.find(manifests, "Job", "soma-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = charts.container(job)
    assert spec["args"] == ["migrate"]
    assert "envFrom" not in spec and "serviceAccountName" not in charts.pod_spec(job)
    for entry in spec["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        rendered = [m for m in manifests if m["kind"] == "Secret" and ref and m["metadata"]["name"] == ref["name"]]
        for secret in rendered:  # a Secret of this release must be a hook created before the Job
            hook = secret["metadata"].get("annotations", {})
            assert "pre-install" in hook.get("helm.sh/hook", ""), secret["metadata"]["name"]
            assert int(hook["helm.sh/hook-weight"]) < int(annotations.get("helm.sh/hook-weight", "0"))


def test_the_database_url_names_the_infra_postgresql_service() -> None:
    postgresql = charts.find(infra(), "Service", "soma-infra-postgresql")
    assert postgresql["spec"]["ports"][0]["port"] == 5432
    manifests = stack()
    for kind, name in WORKLOADS:
        env = charts.environment(charts.find(manifests, kind, name), manifests)
        url = urlsplit(env["SOMA_DATABASE_URL"])
        assert (url.scheme, url.hostname, url.port, url.password) == (
            "postgresql+psycopg", postgresql["metadata"]["name"], 5432, None
        )
        # libpq reads the password from PGPASSWORD: the same Secret PostgreSQL was initialised from.
        assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "soma-infra-postgresql", "key": "password"}}
    charts.find(infra(), "Secret", "soma-infra-postgresql")


def test_the_vault_address_names_the_infra_openbao_service() -> None:
    openbao = charts.find(infra(), "Service", "soma-infra-openbao")
    manifests = stack()
    for name in ("gateway", "conversation-worker"):
        env = charts.environment(charts.find(manifests, "Deployment", name), manifests)
        address = urlsplit(env["SOMA_VAULT_ADDR"])
        assert (address.hostname, address.port) == (openbao["metadata"]["name"], openbao["spec"]["ports"][0]["port"])
        assert env["SOMA_VAULT_TOKEN_FILE"] == "/var/run/secrets/soma/vault-token"
        assert (env["SOMA_SLM_KEY_VAULT_MOUNT"], env["SOMA_SLM_KEY_VAULT_PATH"], env["SOMA_SLM_KEY_VAULT_FIELD"]) == (
            "kv", "slm/api-key", "value"
        )


def test_the_dev_slm_runs_in_the_cluster_behind_the_key_the_setup_job_stores_in_openbao() -> None:
    manifests = stack()
    slm = charts.find(manifests, "Deployment", "slm")
    assert charts.container(slm)["args"] == ["slm", "serve", "--host", "0.0.0.0", "--port", "8000"]
    probes = [charts.container(slm)[p]["httpGet"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert probes == [{"path": "/health", "port": "http"}] * 3  # llama.cpp's, open without the key
    assert charts.find(manifests, "Service", "slm")["spec"]["ports"][0]["port"] == 8000
    gateway = charts.find(manifests, "Deployment", "gateway")
    assert charts.environment(gateway, manifests)["SOMA_SLM_BASE_URL"] == "http://slm:8000/v1"
    assert charts.environment(slm, manifests)["SOMA_SLM_API_KEY_FILE"] == "/var/run/secrets/soma/slm-api-key"
    key = charts.find(manifests, "Secret", "soma-slm-api-key")["data"]["api-key"]
    stored = charts.find(infra(), "Secret", "soma-infra-openbao")["data"]["slm-api-key"]
    assert key == stored


def test_prod_mounts_the_slm_key_from_its_existing_secret_as_a_file() -> None:
    manifests = stack("prod")
    assert [m for m in manifests if m["kind"] == "Secret"] == []
    for name in ("gateway", "conversation-worker"):
        deployment = charts.find(manifests, "Deployment", name)
        env = charts.environment(deployment, manifests)
        assert env["SOMA_SLM_API_KEY_FILE"] == "/var/run/secrets/soma/slm-api-key"
        assert "SOMA_VAULT_ADDR" not in env
        [volume] = [v for v in charts.pod_spec(deployment)["volumes"] if v["name"] == "secrets"]
        assert volume["projected"]["sources"] == [
            {"secret": {"name": "soma-slm-api-key", "items": [{"key": "api-key", "path": "slm-api-key"}]}}
        ]


@pytest.mark.parametrize("env", ENVS)
def test_no_secret_is_in_a_configmap_or_a_literal_env_value(env: str) -> None:
    manifests = charts.rendered("soma-infra", env) + stack(env)
    secrets = {
        base64.b64decode(value).decode()
        for m in manifests
        if m["kind"] == "Secret"
        for value in m["data"].values()
    }
    leaks = []
    for m in manifests:
        if m["kind"] == "ConfigMap":
            leaks += [f"ConfigMap/{m['metadata']['name']}: {k}" for k in m["data"] if SECRET_NAME.search(k.upper())]
            text = str(m["data"])
            leaks += [f"ConfigMap/{m['metadata']['name']} holds a Secret's value" for s in secrets if s in text]
        if m["kind"] in ("Deployment", "StatefulSet", "Job"):
            for entry in charts.container(m).get("env", []):
                if "value" in entry and SECRET_NAME.search(entry["name"]):
                    leaks.append(f"{m['kind']}/{m['metadata']['name']}: env {entry['name']} is a literal")
    assert leaks == []


def test_infra_prometheus_scrapes_the_annotated_gateway_and_worker_pods() -> None:
    config = charts.find(infra(), "ConfigMap", "soma-infra-prometheus")["data"]["prometheus.yml"]
    assert "__meta_kubernetes_pod_annotation_prometheus_io_scrape" in config
    manifests = stack()
    for name in ("gateway", "conversation-worker"):
        deployment = charts.find(manifests, "Deployment", name)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        ports = [p["containerPort"] for p in charts.container(deployment)["ports"]]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert [int(annotations["prometheus.io/port"])] == ports


@pytest.mark.parametrize("env", ENVS)
def test_a_worker_counts_as_dead_only_after_silence_longer_than_a_whole_drain(env: str) -> None:
    manifests = stack(env)
    worker = charts.environment(charts.find(manifests, "Deployment", "conversation-worker"), manifests)
    drain, stalled = float(worker["SOMA_WORKER_DRAIN_SECONDS"]), float(worker["SOMA_WORKER_STALLED_SECONDS"])
    assert stalled > drain
    settings = config.Settings(worker_drain_seconds=drain, worker_stalled_seconds=stalled, database_url="postgresql://x/y")
    assert settings.worker_stalled_threshold == stalled  # high enough that Soma keeps it as it is


def test_the_stalled_threshold_follows_the_drain_from_the_one_value() -> None:
    values = charts.values("dev")
    values["worker"] = {**values["worker"], "drainSeconds": 300}
    manifests = charts.render_values("soma-stack", values, "soma")
    settings = charts.find(manifests, "ConfigMap", "soma")["data"]
    assert (settings["SOMA_WORKER_DRAIN_SECONDS"], settings["SOMA_WORKER_STALLED_SECONDS"]) == ("300", "310")
