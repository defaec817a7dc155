"""The emergency stop and its lockdown."""

from __future__ import annotations

from soma.errors.base import SomaError


class Lockdown(SomaError):
    """Soma is in emergency lockdown: an operator ran `soma emergency-stop`, and nothing but /health, /ready and /metrics is served. Only `soma emergency-stop --lift --reason TEXT` ends it; see docs/runbooks/emergency-shutdown.md."""

    status_code = 503
    code = "lockdown"


class EmergencyNotConfirmed(SomaError):
    """The emergency stop was not run: type STOP in `confirm` to revoke every key, end every session and lock Soma down."""

    status_code = 422
    code = "confirmation_required"


class EmergencyStepFailed(SomaError):
    """The rest of the emergency stop was carried out. Run the command again (it is safe to repeat), or do the failed step by hand following docs/runbooks/emergency-shutdown.md."""

    code = "emergency_step_failed"


class SLMKeyNotInVault(SomaError):
    """SOMA_VAULT_ADDR is not set, so the SLM key is not in Vault and Soma cannot delete it. Revoke the key at the SLM provider instead."""

    code = "slm_key_not_in_vault"
