"""The SLM: the local server, calls to any OpenAI-compatible API, its key's rotation, the smoke test."""

from __future__ import annotations

from soma.errors.base import SomaError


class LocalSLMUnavailable(SomaError):
    """The local SLM cannot start: install the extra with `pip install 'soma[local-slm]'` (`make run` does), or set SOMA_SLM_BASE_URL to an OpenAI-compatible server."""

    code = "local_slm_unavailable"


class LocalSLMFailed(SomaError):
    """The local SLM did not start: read the log the message names or the lines before it (a port in use, a damaged model file), or set SOMA_SLM_BASE_URL to an OpenAI-compatible server."""

    code = "local_slm_failed"


class SLMError(SomaError):
    """The SLM call failed."""

    code = "slm_error"
    retryable = False

    def __init__(self, detail: str | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class SLMAuthFailed(SLMError):
    """The SLM API key is missing or was refused. Put a key the SLM accepts where `soma secrets status` says the key is read from (Vault kv/slm/api-key, SOMA_SLM_API_KEY_FILE or SOMA_SLM_API_KEY), then run `soma slm check`."""

    code = "slm_auth"


class SLMRateLimited(SLMError):
    """The SLM kept answering 429 Too Many Requests. Wait, or raise the provider's rate limit."""

    code = "slm_rate_limited"
    retryable = True


class SLMUnavailable(SLMError):
    """The SLM did not answer properly. Check that SOMA_SLM_BASE_URL points at a running OpenAI-compatible server."""

    code = "slm_unavailable"
    retryable = True


class SLMTimeout(SLMError):
    """The SLM stopped sending within SOMA_SLM_READ_TIMEOUT seconds. Check the SLM server's load, or raise that timeout."""

    code = "slm_timeout"
    retryable = True


class SLMBadRequest(SLMError):
    """The SLM rejected the request. Check SOMA_SLM_MODEL names a model the SLM serves."""

    code = "slm_bad_request"


class SLMNotConfigured(SomaError):
    """No SLM is configured for the worker. Set SOMA_SLM_BASE_URL (with /v1) and SOMA_SLM_API_KEY, or run `soma up`, which starts the local SLM."""

    code = "slm_not_configured"


class RotationNeedsVault(SomaError):
    """`soma slm rotate-key` writes the key to Vault: set SOMA_VAULT_ADDR and a Vault credential. Without Vault, follow docs/runbooks/rotate-slm-key.md (.env in dev, the Helm secret in prod)."""

    code = "rotation_needs_vault"


class RotationConflict(SomaError):
    """Someone else wrote the key meanwhile; nothing was written. Check `soma secrets status`, then rotate again."""

    code = "rotation_conflict"


class NewKeyRejected(SomaError):
    """The new key did not work against the SLM, so it was not stored and the current key stays in use. Check the key (and SOMA_SLM_BASE_URL), then rotate again."""

    code = "new_key_rejected"


class BadKeyInput(SomaError):
    """Give the new key alone on standard input or in the file named by --from-file: one line, no spaces."""

    code = "bad_key_input"


class SmokeFailed(SomaError):
    """The smoke test failed. Check the gateway (`/ready`), the worker's log and `soma slm check`."""

    code = "smoke_failed"
