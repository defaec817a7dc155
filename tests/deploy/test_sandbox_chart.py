"""soma-stack's `sandbox`: `soma sandbox` with the security context bubblewrap needs, reached by the worker alone, with a key of its own."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import helm_python as helm
import pytest
from kubernetes_validate import utils as k8s

from soma import config
from soma.sandbox import jail
from soma.settings import store
from tests.deploy import charts

ENVS = list(charts.ENVIRONMENTS)
SANDBOX_ENV = {"SOMA_SANDBOX_HOST", "SOMA_SANDBOX_PORT", "SOMA_SANDBOX_PYTHON", "SOMA_SANDBOX_MAX_RUNS", "SOMA_SANDBOX_KEY",
               "SOMA_LOG_FORMAT", "SOMA_LOG_LEVEL"}  # fmt: skip
# Every address the cluster's pods, Services and PostgreSQL may have, and the cloud's metadata service.
PRIVATE_V4 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"]


def _render(env: str = "dev", **sandbox: Any) -> list[charts.Manifest]:
    chart_values = charts.values(env)
    chart_values["sandbox"] = {**chart_values.get("sandbox", {}), **sandbox}
    return charts.render_values("soma-stack", chart_values, charts.ENVIRONMENTS[env][1])


def _env(manifests: list[charts.Manifest], name: str) -> dict[str, Any]:
    return charts.environment(charts.find(manifests, "Deployment", name), manifests)


def _selector(manifests: list[charts.Manifest], name: str) -> dict[str, str]:
    return charts.find(manifests, "Deployment", name)["spec"]["selector"]["matchLabels"]


def _secret(manifests: list[charts.Manifest], name: str, key: str) -> str:
    return base64.b64decode(charts.find(manifests, "Secret", name)["data"][key]).decode()


@pytest.mark.parametrize("env", ENVS)
def test_the_sandbox_runs_soma_sandbox_on_8790_and_is_probed_on_health(env: str) -> None:
    manifests = charts.rendered("soma-stack", env)
    sandbox = charts.find(manifests, "Deployment", "sandbox")
    spec = charts.container(sandbox)
    assert spec["args"] == ["sandbox"]
    assert spec["ports"] == [{"name": "http", "containerPort": 8790}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert spec[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert spec["resources"]["limits"]["memory"]
    env_vars = _env(manifests, "sandbox")
    assert set(env_vars) == SANDBOX_ENV  # no database, SLM, Vault or tunnel setting reaches the jails' host
    assert (env_vars["SOMA_SANDBOX_HOST"], env_vars["SOMA_SANDBOX_PORT"], env_vars["SOMA_SANDBOX_PYTHON"]) == (
        "0.0.0.0", "8790", "/opt/soma-sandbox/bin/python"
    )
    assert "envFrom" not in spec


POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "Unconfined"},  # unshare(CLONE_NEWUSER), mount, pivot_root
    "appArmorProfile": {"type": "Unconfined"},  # mount
}


@pytest.mark.parametrize("env", ENVS)
def test_the_sandbox_pod_holds_no_token_no_host_path_and_no_service_links(env: str) -> None:
    sandbox = charts.find(charts.rendered("soma-stack", env), "Deployment", "sandbox")
    pod = charts.pod_spec(sandbox)
    assert pod["securityContext"] == POD_SECURITY
    assert (pod["automountServiceAccountToken"], pod["enableServiceLinks"]) == (False, False)
    assert "serviceAccountName" not in pod
    assert [m["mountPath"] for m in charts.container(sandbox)["volumeMounts"]] == ["/tmp"]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}]  # no host path, no claim, no Secret file
    assert not any(key in pod for key in ("hostNetwork", "hostPID", "hostIPC"))


def test_by_default_the_sandbox_container_gets_the_unmasked_proc_of_a_user_namespaced_pod_and_nothing_more() -> None:
    sandbox = charts.find(charts.rendered("soma-stack", "prod"), "Deployment", "sandbox")  # the prod example keeps the chart's defaults
    assert charts.container(sandbox)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "procMount": "Unmasked",  # the jail's own /proc
    }
    assert charts.pod_spec(sandbox)["hostUsers"] is False  # what Kubernetes requires of procMount Unmasked


def test_on_kind_the_dev_sandbox_is_privileged_since_kind_runs_no_user_namespaced_pod() -> None:
    sandbox = charts.find(charts.rendered("soma-stack", "dev"), "Deployment", "sandbox")
    assert charts.container(sandbox)["securityContext"] == {"privileged": True, "readOnlyRootFilesystem": True}
    assert "hostUsers" not in charts.pod_spec(sandbox)
    assert charts.pod_spec(sandbox)["securityContext"]["runAsUser"] == 10001  # still not root


def test_a_cluster_without_user_namespaced_pods_can_run_the_sandbox_with_the_default_proc() -> None:
    sandbox = charts.find(_render(securityContext={"hostUsers": True, "procMount": "Default"}), "Deployment", "sandbox")
    assert "hostUsers" not in charts.pod_spec(sandbox)
    assert charts.container(sandbox)["securityContext"]["procMount"] == "Default"
    k8s.validate(sandbox, k8s.latest_version(), strict=True)


def test_the_chart_refuses_an_unmasked_proc_in_the_hosts_user_namespace() -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape("set sandbox.securityContext.hostUsers=false, or procMount=Default")):
        _render(securityContext={"hostUsers": True, "procMount": "Unmasked"})


def test_localhost_seccomp_and_apparmor_profiles_take_the_place_of_unconfined() -> None:
    profiles = {"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/soma-sandbox.json"},
                "appArmorProfile": {"type": "Localhost", "localhostProfile": "soma-sandbox"}}  # fmt: skip
    sandbox = charts.find(_render(securityContext=profiles), "Deployment", "sandbox")
    context = charts.pod_spec(sandbox)["securityContext"]
    assert {k: context[k] for k in profiles} == profiles
    k8s.validate(sandbox, k8s.latest_version(), strict=True)


@pytest.mark.parametrize("env", ENVS)
def test_the_worker_reaches_the_sandbox_service_with_the_key_the_sandbox_requires(env: str) -> None:
    manifests = charts.rendered("soma-stack", env)
    worker, sandbox = _env(manifests, "conversation-worker"), _env(manifests, "sandbox")
    match = re.fullmatch(r"http://(?P<host>[a-z-]+):(?P<port>\d+)", worker["SOMA_SANDBOX_URL"])
    assert match, worker["SOMA_SANDBOX_URL"]
    service = charts.find(manifests, "Service", match["host"])
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (int(match["port"]), "http")
    assert service["spec"]["selector"] == _selector(manifests, "sandbox")
    assert worker["SOMA_SANDBOX_KEY"] == sandbox["SOMA_SANDBOX_KEY"]
    assert set(worker["SOMA_SANDBOX_KEY"]) == {"secretKeyRef"}  # from a Secret, never a literal


def test_the_dev_key_is_generated_long_and_random_and_rolls_both_pods_when_it_changes() -> None:
    manifests = charts.rendered("soma-stack", "dev")
    ref = _env(manifests, "sandbox")["SOMA_SANDBOX_KEY"]["secretKeyRef"]
    assert ref == {"name": "soma-sandbox-key", "key": "key"}
    key = _secret(manifests, "soma-sandbox-key", "key")
    assert re.fullmatch(r"[A-Za-z0-9]{48}", key), key
    assert key != _secret(_render(), "soma-sandbox-key", "key")  # `helm template` cannot look up the one installed
    checksum = hashlib.sha256(key.encode()).hexdigest()
    for name in ("sandbox", "conversation-worker"):
        annotations = charts.find(manifests, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["checksum/sandbox-key"] == checksum, name


def test_a_given_key_is_rendered_into_the_secret() -> None:
    manifests = _render(key={"value": "sandbox-key-from-values-0123456789abcdef"})
    assert _secret(manifests, "soma-sandbox-key", "key") == "sandbox-key-from-values-0123456789abcdef"


def test_an_existing_secret_is_used_as_it_is() -> None:
    manifests = _render(key={"existingSecret": "team-sandbox", "key": "token"})
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret" and "sandbox" in m["metadata"]["name"]] == []
    for name in ("sandbox", "conversation-worker"):
        assert _env(manifests, name)["SOMA_SANDBOX_KEY"] == {"secretKeyRef": {"name": "team-sandbox", "key": "token"}}
        annotations = charts.find(manifests, "Deployment", name)["spec"]["template"]["metadata"].get("annotations", {})
        assert "checksum/sandbox-key" not in annotations  # a Secret changed by hand needs a rollout restart
    prod = charts.rendered("soma-stack", "prod")
    assert _env(prod, "sandbox")["SOMA_SANDBOX_KEY"] == {"secretKeyRef": {"name": "soma-sandbox-key", "key": "key"}}


@pytest.mark.parametrize("env", ENVS)
def test_the_gateway_gets_neither_the_sandbox_url_nor_its_key(env: str) -> None:
    manifests = charts.rendered("soma-stack", env)
    assert [k for k in charts.find(manifests, "ConfigMap", "soma")["data"] if k.startswith("SOMA_SANDBOX")] == []
    for kind, name in (("Deployment", "gateway"), ("Job", "soma-migrate")):
        workload = charts.find(manifests, kind, name)
        assert [k for k in charts.environment(workload, manifests) if k.startswith("SOMA_SANDBOX")] == [], name
        assert "soma-sandbox-key" not in str(workload), name


def test_a_disabled_sandbox_renders_nothing_and_leaves_the_worker_without_a_url() -> None:
    manifests = _render(enabled=False)
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests if "sandbox" in m["metadata"]["name"]] == []
    worker = charts.find(manifests, "Deployment", "conversation-worker")
    assert [k for k in charts.environment(worker, manifests) if k.startswith("SOMA_SANDBOX")] == []
    assert "checksum/sandbox-key" not in worker["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("env", ENVS)
def test_without_egress_nothing_leaves_the_sandbox_and_only_the_worker_comes_in(env: str) -> None:
    manifests = charts.rendered("soma-stack", env)
    policy = charts.find(manifests, "NetworkPolicy", "sandbox")
    assert policy["spec"] == {
        "podSelector": {"matchLabels": _selector(manifests, "sandbox")},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{
            "from": [{"podSelector": {"matchLabels": _selector(manifests, "conversation-worker")}}],
            "ports": [{"port": "http", "protocol": "TCP"}],
        }],
        "egress": [],
    }  # fmt: skip
    # The worker's pods alone carry those labels: the gateway's and the others' differ in their component.
    worker_labels = _selector(manifests, "conversation-worker").items()
    others = [m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"
              and worker_labels <= m["spec"]["template"]["metadata"]["labels"].items()]  # fmt: skip
    assert others == ["conversation-worker"]


def test_with_egress_the_sandbox_reaches_the_internet_and_dns_but_no_private_address() -> None:
    manifests = _render(egress=True)
    policy = charts.find(manifests, "NetworkPolicy", "sandbox")
    k8s.validate(policy, k8s.latest_version(), strict=True)
    internet, dns = policy["spec"]["egress"]
    assert internet == {"to": [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_V4}},
        {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10", "::1/128"]}},
    ]}  # fmt: skip
    assert dns == {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }  # fmt: skip
    assert policy["spec"]["ingress"] == charts.find(charts.rendered("soma-stack", "dev"), "NetworkPolicy", "sandbox")["spec"]["ingress"]


def test_the_sandbox_has_a_disruption_budget() -> None:
    manifests = charts.rendered("soma-stack", "prod")
    budget = charts.find(manifests, "PodDisruptionBudget", "sandbox")
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": _selector(manifests, "sandbox")}}


def test_the_dev_values_enable_the_sandbox_on_one_pod_without_egress() -> None:
    assert charts.values("dev")["sandbox"]["enabled"] is True
    sandbox = charts.find(charts.rendered("soma-stack", "dev"), "Deployment", "sandbox")
    assert sandbox["spec"]["replicas"] == 1
    assert charts.values("dev")["sandbox"]["egress"] is False


def _settings(manifests: list[charts.Manifest], name: str) -> config.Settings:
    """The settings the Deployment's process reads from its rendered environment (Secrets as placeholders)."""
    env = {name.removeprefix(config.ENV_PREFIX).lower(): value for name, value in _env(manifests, name).items()}
    env = {k: "from-a-secret-" + "x" * 32 if isinstance(v, dict) else v for k, v in env.items()}
    return config.Settings(_env_file=None, **{k: v for k, v in env.items() if k in config.Settings.model_fields})


@pytest.mark.parametrize("env", ENVS)
def test_soma_reads_the_rendered_settings_as_the_chart_means_them(env: str) -> None:
    manifests = charts.rendered("soma-stack", env)
    sandbox, worker, gateway = (_settings(manifests, name) for name in ("sandbox", "conversation-worker", "gateway"))
    assert (sandbox.sandbox_host, sandbox.sandbox_port, str(sandbox.sandbox_python)) == ("0.0.0.0", 8790, "/opt/soma-sandbox/bin/python")
    assert sandbox.sandbox_key is not None and sandbox.database_url is None
    assert (worker.sandbox_url, worker.sandbox_key is not None) == ("http://sandbox:8790", True)
    assert (gateway.sandbox_url, gateway.sandbox_key) == (None, None)


@pytest.mark.parametrize("env", ENVS)
def test_the_pods_memory_limit_holds_its_runs_at_the_default_settings(env: str) -> None:
    manifests = charts.rendered("soma-stack", env)
    limit = _mebibytes(charts.container(charts.find(manifests, "Deployment", "sandbox"))["resources"]["limits"]["memory"])
    defaults = store.AgentSettings()
    per_run = defaults.sandbox_memory_mb + defaults.workspace_max_mb + (jail.TMP_BYTES + jail.SHM_BYTES) // 2**20  # tmpfs is memory
    assert limit >= _settings(manifests, "sandbox").sandbox_max_runs * per_run + 200  # and the service itself


def _mebibytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)
