"""The sandbox service (`soma sandbox`) and the worker's client of it."""

from __future__ import annotations

from soma.errors.base import SomaError


class SandboxKeyUnusable(SomaError):
    """The sandbox does not start without a key of at least 32 characters: set SOMA_SANDBOX_KEY (e.g. `openssl rand -hex 32`), and give the worker the same value. `soma up` makes one itself."""

    code = "sandbox_key_unusable"


class SandboxUnauthorized(SomaError):
    """Send the sandbox's key as `Authorization: Bearer <SOMA_SANDBOX_KEY>`."""

    status_code = 401
    code = "sandbox_unauthorized"


class RunRequestInvalid(SomaError):
    """Nothing was run. Send a run as docs/architecture.md ("The sandbox") describes it."""

    status_code = 422
    code = "invalid_run_request"


class RunRequestTooLarge(SomaError):
    """Nothing was run. Send fewer or smaller files: a run's files may not exceed its workspace_mb."""

    status_code = 413
    code = "run_request_too_large"


class SandboxUnavailable(SomaError):
    """Start `soma sandbox` (`soma up` starts one) and give the worker its address in SOMA_SANDBOX_URL."""

    status_code = 503
    code = "sandbox_unavailable"


class SandboxKeyRejected(SomaError):
    """The sandbox refused the worker's key: give the worker the sandbox's SOMA_SANDBOX_KEY."""

    status_code = 503
    code = "sandbox_key_rejected"


class SandboxBroken(SomaError):
    """The sandbox answered something the worker cannot read; its log says why. Check that the worker and the sandbox run the same version of Soma."""

    status_code = 502
    code = "sandbox_broken"
