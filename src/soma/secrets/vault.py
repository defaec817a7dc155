"""Vault (or OpenBao) KV v2 through hvac: log in with a token, a token file or Kubernetes auth; read and write one field.

hvac (with requests and urllib3) is imported by the functions that talk to Vault: every process
imports this module for `Location`, and most never use Vault, where the import cost 0.13 s of CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from soma import config, errors

if TYPE_CHECKING:
    import hvac


@dataclass(frozen=True)
class Location:
    """Where one secret lives: mount, path and field of a KV v2 engine."""

    mount: str
    path: str
    field: str

    def __str__(self) -> str:
        return f"{self.mount}/{self.path}"


@dataclass(frozen=True)
class Version:
    """One KV v2 read: the field's value (None when that version is deleted or destroyed) and its version."""

    value: str | None
    version: int
    gone: str | None = None  # "deleted at …" or "destroyed" when the current version is revoked


def slm_key_location(settings: config.Settings) -> Location:
    """The SLM key's place in Vault, `kv/slm/api-key` field `value` by default."""
    return Location(settings.slm_key_vault_mount, settings.slm_key_vault_path.strip("/"), settings.slm_key_vault_field)


def tunnel_token_location(settings: config.Settings) -> Location:
    """The Cloudflare tunnel token's place in Vault: the SLM key's mount, `cloudflare/tunnel-token` field `value` by default."""
    return Location(settings.slm_key_vault_mount, settings.tunnel_token_vault_path.strip("/"), "value")


def oidc_client_secret_location(settings: config.Settings) -> Location:
    """The OpenID Connect client secret's place in Vault: the SLM key's mount, `oidc/client-secret` field `value` by default."""
    return Location(settings.slm_key_vault_mount, settings.oidc_client_secret_vault_path.strip("/"), "value")


def connect(settings: config.Settings) -> hvac.Client:
    """A logged-in client; VaultUnreachable or VaultAuthFailed naming the setting to fix."""
    import hvac
    import requests
    from hvac import exceptions as hvac_errors

    client = hvac.Client(url=settings.vault_addr, timeout=settings.vault_timeout)
    try:
        if settings.vault_k8s_role:
            jwt = _read_file(settings.vault_k8s_token_file, "SOMA_VAULT_K8S_TOKEN_FILE")
            client.auth.kubernetes.login(role=settings.vault_k8s_role, jwt=jwt, mount_point=settings.vault_k8s_mount)
        else:
            client.token = _token(settings)
            client.auth.token.lookup_self()
    except (hvac_errors.Forbidden, hvac_errors.Unauthorized, hvac_errors.InvalidRequest) as exc:
        raise errors.VaultAuthFailed(f"Vault at {settings.vault_addr} refused the login ({_first_line(exc)}).") from exc
    except requests.RequestException as exc:
        raise errors.VaultUnreachable(f"Vault at {settings.vault_addr} did not answer ({type(exc).__name__}).") from exc
    except hvac_errors.VaultError as exc:
        raise errors.VaultUnreachable(f"Vault at {settings.vault_addr} failed: {_first_line(exc)}.") from exc
    return client


def read(client: hvac.Client, where: Location) -> Version | None:
    """The current version of the secret, or None when nothing was ever written there."""
    from hvac import exceptions as hvac_errors

    kv = client.secrets.kv.v2
    try:
        response = kv.read_secret_version(where.path, mount_point=where.mount, raise_on_deleted_version=True)
    except hvac_errors.InvalidPath as exc:
        return _revoked(exc.json, where)
    data = response["data"]
    value = (data.get("data") or {}).get(where.field)
    if not isinstance(value, str) or not value.strip():
        raise errors.VaultSecretInvalid(f"Vault secret {where} (version {data['metadata']['version']}) has no text field {where.field!r}.")
    return Version(value.strip(), int(data["metadata"]["version"]))


def write(client: hvac.Client, where: Location, value: str, expected_version: int | None, metadata: dict[str, str]) -> int:
    """Write a new version only if the current one is still `expected_version`; returns the new version number."""
    from hvac import exceptions as hvac_errors

    kv = client.secrets.kv.v2
    cas = expected_version or 0  # 0: the secret must not exist yet
    try:
        written = kv.create_or_update_secret(where.path, {where.field: value}, cas=cas, mount_point=where.mount)
    except hvac_errors.InvalidRequest as exc:
        if "check-and-set" in str(exc):
            raise errors.RotationConflict(f"Vault secret {where} changed while rotating (expected version {expected_version}).") from exc
        raise
    version = int(written["data"]["version"])
    kv.update_metadata(where.path, mount_point=where.mount, custom_metadata={**metadata, "version": str(version)})
    return version


def custom_metadata(client: hvac.Client, where: Location) -> dict[str, str]:
    """The secret's custom metadata (the last rotation's who, when and why)."""
    response = client.secrets.kv.v2.read_secret_metadata(where.path, mount_point=where.mount)
    return response["data"].get("custom_metadata") or {}


def _revoked(body: dict | None, where: Location) -> Version | None:
    """A 404 either means never written (no metadata) or that the current version was deleted or destroyed."""
    metadata = ((body or {}).get("data") or {}).get("metadata") or {}
    if not metadata:
        return None
    version = int(metadata.get("version") or 0)
    if metadata.get("destroyed"):
        return Version(None, version, f"version {version} at {where} was destroyed in Vault")
    return Version(None, version, f"version {version} at {where} was deleted in Vault at {metadata.get('deletion_time')}")


def _token(settings: config.Settings) -> str:
    if settings.vault_token_file:
        return _read_file(settings.vault_token_file, "SOMA_VAULT_TOKEN_FILE")
    if settings.vault_token:
        return settings.vault_token.get_secret_value()
    raise errors.VaultAuthFailed("No Vault credentials are set.")


def _read_file(path, setting: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise errors.VaultAuthFailed(f"Cannot read {setting} {path} ({exc.strerror}).") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
