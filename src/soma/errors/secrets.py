"""Where secrets come from: Vault (or OpenBao), mounted files, the environment."""

from __future__ import annotations

from soma.errors.base import SomaError


class VaultUnreachable(SomaError):
    """Vault did not answer. Check SOMA_VAULT_ADDR and that Vault runs and is unsealed, or unset SOMA_VAULT_ADDR to read the SLM key from SOMA_SLM_API_KEY_FILE or SOMA_SLM_API_KEY."""

    status_code = 503
    code = "vault_unreachable"


class VaultAuthFailed(SomaError):
    """Soma cannot log in to Vault. Set SOMA_VAULT_TOKEN or SOMA_VAULT_TOKEN_FILE to a valid token, or SOMA_VAULT_K8S_ROLE to a Kubernetes auth role bound to this service account."""

    code = "vault_auth"


class VaultSecretInvalid(SomaError):
    """The Vault secret does not hold the SLM key where Soma looks. Write the key with `soma slm rotate-key`, or set SOMA_SLM_KEY_VAULT_FIELD to the field that holds it."""

    code = "vault_secret_invalid"


class InvalidSecretSources(SomaError):
    """SOMA_SECRET_SOURCES must list one or more of vault, file, env, comma-separated (default vault,file,env)."""

    code = "invalid_secret_sources"
