"""Where the SLM key comes from, against a real OpenBao server, real files and a real .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma import config, errors
from soma.secrets import sources, watch
from tests import openbao


def _settings(**values) -> config.Settings:
    return config.Settings(_env_file=None, **values)


def _vault_settings(vault: openbao.OpenBao, **values) -> config.Settings:
    return _settings(vault_addr=vault.addr, vault_token=openbao.ROOT_TOKEN, **values)


def test_vault_gives_the_current_version_and_names_itself(vault) -> None:
    vault.write_key("key-one")
    vault.write_key("key-two")
    reading = sources.chosen(sources.for_slm_key(_vault_settings(vault, slm_api_key="env-key"))).read()
    assert (reading.value, reading.version) == ("key-two", "version 2")
    assert reading.origin.startswith("vault kv/slm/api-key")
    assert "key-two" not in reading.label


def test_a_deleted_or_destroyed_key_is_missing_and_the_environment_does_not_stand_in(vault) -> None:
    settings = _vault_settings(vault, slm_api_key="stale-env-key")
    source = sources.chosen(sources.for_slm_key(settings))
    vault.write_key("key-one")
    vault.kv.delete_latest_version_of_secret(openbao.KEY_PATH, mount_point=openbao.MOUNT)
    deleted = source.read()
    assert deleted.value is None and "deleted in Vault" in deleted.missing
    vault.write_key("key-two")
    vault.kv.destroy_secret_versions(openbao.KEY_PATH, versions=[2], mount_point=openbao.MOUNT)
    destroyed = source.read()
    assert destroyed.value is None and "version 2 at kv/slm/api-key was destroyed" in destroyed.missing


def test_mount_path_and_field_are_configurable(vault) -> None:
    vault.kv.create_or_update_secret("team/llm", {"token": "custom"}, mount_point=openbao.MOUNT)
    settings = _vault_settings(vault, slm_key_vault_path="team/llm", slm_key_vault_field="token")
    assert sources.chosen(sources.for_slm_key(settings)).read().value == "custom"


def test_a_secret_without_the_field_names_the_setting_to_fix(vault) -> None:
    vault.kv.create_or_update_secret(openbao.KEY_PATH, {"key": "x"}, mount_point=openbao.MOUNT)
    with pytest.raises(errors.VaultSecretInvalid, match="SOMA_SLM_KEY_VAULT_FIELD"):
        sources.chosen(sources.for_slm_key(_vault_settings(vault))).read()


def test_token_file_auth(vault, tmp_path: Path) -> None:
    vault.write_key("key-one")
    token_file = tmp_path / "token"
    token_file.write_text(openbao.ROOT_TOKEN + "\n")
    settings = _settings(vault_addr=vault.addr, vault_token_file=token_file)
    assert sources.chosen(sources.for_slm_key(settings)).read().value == "key-one"


def test_a_bad_token_names_the_token_settings(vault) -> None:
    with pytest.raises(errors.VaultAuthFailed, match="SOMA_VAULT_TOKEN"):
        sources.chosen(sources.for_slm_key(_settings(vault_addr=vault.addr, vault_token="wrong"))).read()


def test_an_unreachable_vault_names_soma_vault_addr() -> None:
    settings = _settings(vault_addr="http://127.0.0.1:9", vault_token="t", vault_timeout=1)
    with pytest.raises(errors.VaultUnreachable, match="SOMA_VAULT_ADDR"):
        watch.SecretWatcher(settings).load()


def test_without_vault_a_mounted_file_wins_over_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "slm-api-key"
    key_file.write_text("file-key\n")
    reading = sources.chosen(sources.for_slm_key(_settings(slm_api_key_file=key_file, slm_api_key="env-key"))).read()
    assert reading.value == "file-key" and str(key_file) in reading.origin


def test_without_vault_or_file_the_env_file_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SOMA_SLM_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SOMA_SLM_API_KEY=dotenv-key\n")
    reading = sources.chosen(sources.for_slm_key(_settings())).read()
    assert (reading.value, reading.origin) == ("dotenv-key", ".env SOMA_SLM_API_KEY")


def test_an_unknown_source_name_is_refused() -> None:
    with pytest.raises(errors.InvalidSecretSources, match="consul"):
        sources.for_slm_key(_settings(secret_sources="vault,consul"))


async def test_the_watcher_notices_changes_and_keeps_the_last_key_while_vault_is_down(launcher) -> None:
    own = openbao.OpenBao(launcher)  # its own server, to stop it
    own.write_key("key-one")
    keys = watch.SecretWatcher(_vault_settings(own, vault_timeout=1))
    assert keys.load().value == "key-one"
    own.write_key("key-two")
    assert (await keys.reread()).value == "key-two"
    own.proc.stop()
    assert (await keys.reread()).value == "key-two"
    assert keys.stale_since is not None


def test_kubernetes_auth_logs_in_with_the_service_account_token(vault, launcher, tmp_path: Path) -> None:
    import json
    import sys

    from tests import fake_kubernetes, procs

    jwt = fake_kubernetes.service_account_jwt("soma", "soma", "7c1a2b3c-0000-4000-8000-000000000001")
    accounts = {jwt: {"namespace": "soma", "name": "soma", "uid": "7c1a2b3c-0000-4000-8000-000000000001"}}
    port = procs.free_port()
    launcher.start("kube-api", [sys.executable, str(Path(fake_kubernetes.__file__)), str(port), json.dumps(accounts)], {})
    procs.wait_until(lambda: _answers(f"http://127.0.0.1:{port}/"), 20, "the fake Kubernetes API")
    vault.enable_kubernetes_auth(f"http://127.0.0.1:{port}", role="soma-gateway", namespace="soma", service_account="soma")
    vault.write_key("key-one")
    token_file = tmp_path / "token"
    token_file.write_text(jwt)

    settings = _settings(vault_addr=vault.addr, vault_k8s_role="soma-gateway", vault_k8s_token_file=token_file)
    assert sources.chosen(sources.for_slm_key(settings)).read().value == "key-one"

    token_file.write_text(fake_kubernetes.service_account_jwt("other", "intruder", "7c1a2b3c-0000-4000-8000-000000000002"))
    with pytest.raises(errors.VaultAuthFailed, match="SOMA_VAULT_K8S_ROLE"):
        sources.chosen(sources.for_slm_key(settings)).read()


def _answers(url: str) -> bool:
    import httpx

    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False
