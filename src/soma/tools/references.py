"""Secret references in a tool server's env and headers: parsed, kept away from Soma's own secrets, resolved, redacted.

A value is a reference when it is `vault:MOUNT/PATH#FIELD`, `env:NAME` or `file:/absolute/path`,
optionally after one word and a space (`Bearer vault:kv/mcp/github#token`, for a header). Only the
reference is ever stored; the value is read where a connection is made (soma.secrets' sources, the
same as the SLM key's), lives in that process's memory, and is redacted from whatever the server
sends back. Nothing here logs or returns a value except `resolve`, to the connection that needs it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from soma import config, errors
from soma.secrets import sources, vault

REDACTED = "[secret]"
MIN_REDACTED_CHARS = 4  # shorter values are not secrets worth the name, and would mangle every text
VAULT_FIELD = "value"  # the field read when a vault reference names none (as for the SLM key)

_REFERENCE = re.compile(r"(?:(?P<prefix>[^\s]+) )?(?P<kind>vault|env|file):(?P<where>\S+)")
_VAULT_PLACE = re.compile(r"(?P<mount>[A-Za-z0-9_.-]+)/(?P<path>[A-Za-z0-9_./-]+)(?:#(?P<field>[A-Za-z0-9_.-]+))?")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A name that says its value is a secret: such a value must be a reference (docs/security.md).
SECRET_NAME = re.compile(r"token|key|secret|passw|auth|credential|cookie", re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    """One reference, as written: `prefix` is the word before it ("Bearer"), if any."""

    kind: str  # vault, env or file
    where: str  # what follows the colon
    prefix: str = ""

    def __str__(self) -> str:
        return f"{self.prefix} {self.kind}:{self.where}" if self.prefix else f"{self.kind}:{self.where}"

    @property
    def label(self) -> str:
        """The reference without its prefix, for logs and errors."""
        return f"{self.kind}:{self.where}"


def parse(value: str) -> Reference | None:
    """The reference a value holds, or None for a plain value."""
    found = _REFERENCE.fullmatch(value)
    if found is None:
        return None
    return Reference(found["kind"], found["where"], found["prefix"] or "")


def problem(reference: Reference, settings: config.Settings | None) -> str | None:
    """What is wrong with a reference (its form, or that it names one of Soma's own secrets), or None.

    Without settings (a backup being staged), the places Soma's settings choose are not checked here;
    the process that resolves the reference checks them (Resolver.read).
    """
    if reference.kind == "env":
        if not _VARIABLE.fullmatch(reference.where):
            return f"{reference.label!r} does not name a variable (env:NAME)"
        if reference.where.upper().startswith(config.ENV_PREFIX):
            return f"{reference.label!r} names one of Soma's own settings, which no tool server may read"
        return None
    if reference.kind == "file":
        if not reference.where.startswith("/"):
            return f"{reference.label!r} is not an absolute path (file:/path)"
        if settings is not None and _same_file(Path(reference.where), _own_files(settings)):
            return f"{reference.label!r} is one of Soma's own secret files, which no tool server may read"
        return None
    place = vault_location(reference)
    if place is None:
        return f"{reference.label!r} does not name a Vault secret (vault:MOUNT/PATH#FIELD)"
    own = (vault.slm_key_location(settings), vault.tunnel_token_location(settings)) if settings is not None else ()
    if any((place.mount, place.path.strip("/")) == (o.mount, o.path.strip("/")) for o in own):
        return f"{reference.label!r} is one of Soma's own secrets in Vault, which no tool server may read"
    return None


def vault_location(reference: Reference) -> vault.Location | None:
    """Where a vault reference points (KV v2 mount, path, field), or None when it is malformed."""
    found = _VAULT_PLACE.fullmatch(reference.where)
    if found is None or ".." in found["path"].split("/"):
        return None
    return vault.Location(found["mount"], found["path"].strip("/"), found["field"] or VAULT_FIELD)


def _own_files(settings: config.Settings) -> list[Path]:
    candidates = (
        settings.slm_api_key_file, settings.vault_token_file, settings.vault_k8s_token_file,
        settings.bootstrap_admin_key_file, settings.tunnel_token_file,
    )  # fmt: skip
    return [Path(p) for p in candidates if p is not None]


def _same_file(path: Path, others: list[Path]) -> bool:
    """Whether path is one of others, spelled differently or through a link."""
    mine = {os.path.normpath(path), os.path.realpath(path)}
    return any(mine & {os.path.normpath(o), os.path.realpath(o)} for o in others)


class Unresolved(Exception):
    """A reference that gave no value; the message names the reference and why, never a value."""


@dataclass
class Resolved:
    """A server's env and headers with every reference replaced by its value, for one connection."""

    env: dict[str, str]
    headers: dict[str, str]
    secrets: tuple[str, ...] = ()  # the resolved values: what redact() hides
    versions: tuple[str, ...] = ()  # "vault:kv/mcp/github#token version 3", for log lines

    @property
    def fingerprint(self) -> str:
        """Changes when any value changes; the values themselves stay here."""
        return hashlib.sha256("\x00".join(self.secrets).encode()).hexdigest()

    def redact(self, text: str) -> str:
        """text with every resolved value replaced by [secret]."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= MIN_REDACTED_CHARS:
                text = text.replace(secret, REDACTED)
        return text


@dataclass
class Resolver:
    """Reads references through soma.secrets' sources; keeps one Vault login per place. Blocking: run it in a thread."""

    settings: config.Settings
    _vault: dict[vault.Location, sources.VaultSource] = field(default_factory=dict)

    def resolve(self, env: dict[str, str], headers: dict[str, str]) -> Resolved:
        """Every value of env and headers with its reference read; Unresolved names the first that gave none."""
        secrets: list[str] = []
        versions: list[str] = []

        def one(value: str) -> str:
            reference = parse(value)
            if reference is None:
                return value
            secret, version = self.read(reference)
            secrets.append(secret)
            versions.append(f"{reference.label} {version}".strip())
            return f"{reference.prefix} {secret}" if reference.prefix else secret

        resolved_env = {name: one(value) for name, value in env.items()}
        resolved_headers = {name: one(value) for name, value in headers.items()}
        return Resolved(resolved_env, resolved_headers, tuple(secrets), tuple(versions))

    def read(self, reference: Reference) -> tuple[str, str]:
        """(value, version) of one reference."""
        why = problem(reference, self.settings)
        if why is not None:
            raise Unresolved(why)
        reading = self._source(reference).read() if reference.kind != "vault" else self._read_vault(reference)
        if reading.value is None:
            raise Unresolved(f"{reference.label} has no value: {reading.missing}")
        return reading.value, reading.version

    def _source(self, reference: Reference) -> sources.FileSource | sources.EnvSource:
        if reference.kind == "env":
            return sources.EnvSource(reference.where, None)
        return sources.FileSource(Path(reference.where), reference.label)

    def _read_vault(self, reference: Reference) -> sources.Reading:
        place = vault_location(reference)
        assert place is not None  # problem() refused a malformed one
        if not self.settings.vault_addr:
            raise Unresolved(f"{reference.label} needs Vault, and SOMA_VAULT_ADDR is not set")
        source = self._vault.setdefault(place, sources.VaultSource(self.settings, place))
        try:
            return source.read()
        except errors.SomaError as exc:
            raise Unresolved(f"{reference.label}: {exc.detail or exc.message}") from None
