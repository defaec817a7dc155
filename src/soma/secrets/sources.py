"""The places a secret (the SLM key, the tunnel token, the OIDC client secret) can come from. Each read says where the value came from, never the value itself."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from soma import config, errors
from soma.secrets import vault

if TYPE_CHECKING:
    import hvac


@dataclass(frozen=True)
class Reading:
    """One read of a secret: the value (None when missing), where it came from and which version."""

    value: str | None
    origin: str  # e.g. "vault kv/slm/api-key", "file /var/run/secrets/soma/slm-api-key"
    version: str = ""  # changes whenever the value may have changed
    missing: str = ""  # why there is no value, for errors and /ready

    @property
    def label(self) -> str:
        """Origin and version, for logs and error messages."""
        return f"{self.origin} ({self.version})" if self.version else self.origin


class VaultSource:
    """KV v2 in Vault: authoritative when SOMA_VAULT_ADDR is set, so a deleted key stays deleted."""

    name = "vault"

    def __init__(self, settings: config.Settings, where: vault.Location | None = None) -> None:
        self._settings = settings
        self.where = where or vault.slm_key_location(settings)
        self._client: hvac.Client | None = None

    @property
    def origin(self) -> str:
        return f"vault {self.where} field {self.where.field!r} at {self._settings.vault_addr}"

    def configured(self) -> bool:
        return bool(self._settings.vault_addr)

    def client(self) -> hvac.Client:
        """A logged-in client, logging in again when the token has expired."""
        if self._client is None or not self._client.is_authenticated():
            self._client = vault.connect(self._settings)
        return self._client

    def read(self) -> Reading:
        try:
            current = vault.read(self.client(), self.where)
        except errors.SomaError:
            raise
        except Exception as exc:  # requests and hvac errors: Vault is down or refused
            self._client = None
            raise errors.VaultUnreachable(f"Reading {self.where} from {self._settings.vault_addr} failed ({type(exc).__name__}).") from exc
        if current is None:
            return Reading(None, self.origin, missing=f"nothing is stored at {self.where} in Vault")
        if current.value is None:
            return Reading(None, self.origin, f"version {current.version}", missing=current.gone or "revoked")
        return Reading(current.value, self.origin, f"version {current.version}")


class FileSource:
    """A file, typically a Kubernetes Secret volume, which kubelet swaps when the Secret changes."""

    name = "file"

    def __init__(self, path: Path | None, variable: str = "SOMA_SLM_API_KEY_FILE") -> None:
        self.path = path
        self.variable = variable

    @property
    def origin(self) -> str:
        return f"file {self.path} ({self.variable})"

    def configured(self) -> bool:
        return self.path is not None

    def read(self) -> Reading:
        assert self.path is not None
        try:
            text = self.path.read_text().strip()
            modified = datetime.datetime.fromtimestamp(self.path.stat().st_mtime, datetime.UTC)
        except FileNotFoundError:
            return Reading(None, self.origin, missing=f"{self.path} does not exist")
        except OSError as exc:
            return Reading(None, self.origin, missing=f"{self.path} cannot be read ({exc.strerror})")
        if not text:
            return Reading(None, self.origin, missing=f"{self.path} is empty")
        return Reading(text, self.origin, f"modified {modified:%Y-%m-%dT%H:%M:%SZ}, {len(text)} chars")


class EnvSource:
    """A variable (SOMA_SLM_API_KEY) from the environment, or else from `.env`, which is re-read so dev edits apply."""

    name = "env"

    def __init__(self, variable: str, given: SecretStr | None) -> None:
        self.variable = variable
        self._given = given  # as read at start, or passed in by code that built the settings

    def configured(self) -> bool:
        return True  # the last resort: always consulted

    @property
    def origin(self) -> str:
        return f"environment {self.variable}"

    def read(self) -> Reading:
        value, where = config.fresh_env_value(self.variable)
        if value:
            return Reading(value, f"{where} {self.variable}")
        if self._given is not None and self._given.get_secret_value().strip():
            return Reading(self._given.get_secret_value().strip(), f"settings {self.variable}")
        return Reading(None, self.origin, missing=f"{self.variable} is not set (environment or .env)")


Source = VaultSource | FileSource | EnvSource


def for_slm_key(settings: config.Settings) -> list[Source]:
    """The SLM key's sources in SOMA_SECRET_SOURCES order."""
    known = {"vault": lambda: VaultSource(settings), "file": lambda: FileSource(settings.slm_api_key_file), "env": lambda: EnvSource("SOMA_SLM_API_KEY", settings.slm_api_key)}
    return _in_order(settings, known)


def for_tunnel_token(settings: config.Settings) -> list[Source]:
    """The Cloudflare tunnel token's sources, in the same SOMA_SECRET_SOURCES order and Vault mount as the SLM key."""
    return _beside_slm_key(settings, vault.tunnel_token_location(settings), settings.tunnel_token_file, "SOMA_TUNNEL_TOKEN", settings.tunnel_token)


def for_oidc_client_secret(settings: config.Settings) -> list[Source]:
    """The OpenID Connect client secret's sources, in the same SOMA_SECRET_SOURCES order and Vault mount as the SLM key."""
    return _beside_slm_key(
        settings, vault.oidc_client_secret_location(settings), settings.oidc_client_secret_file, "SOMA_OIDC_CLIENT_SECRET", settings.oidc_client_secret
    )


def _beside_slm_key(settings: config.Settings, where: vault.Location, path: Path | None, variable: str, given: SecretStr | None) -> list[Source]:
    """A secret's sources: Vault at `where`, the file `path` (`<variable>_FILE`), the `variable` itself."""
    known = {
        "vault": lambda: VaultSource(settings, where),
        "file": lambda: FileSource(path, variable + "_FILE"),
        "env": lambda: EnvSource(variable, given),
    }
    return _in_order(settings, known)


def _in_order(settings: config.Settings, known: dict) -> list[Source]:
    names = [n.strip() for n in settings.secret_sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise errors.InvalidSecretSources(f"SOMA_SECRET_SOURCES={settings.secret_sources!r} names {', '.join(unknown) or 'nothing'}.")
    return [known[n]() for n in names]


def chosen(sources: list[Source]) -> Source:
    """The first configured source: it alone decides, so a key deleted there is not replaced by a stale one below."""
    for source in sources:
        if source.configured():
            return source
    return sources[-1]
