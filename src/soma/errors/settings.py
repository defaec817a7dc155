"""Settings: the environment's at start, and the admin's stored in the database."""

from __future__ import annotations

from soma.errors.base import SomaError


class BadSetting(SomaError):
    """Fix the value in the environment or in .env, then start again; `soma COMMAND --help` names each command's settings."""

    code = "bad_setting"


class InvalidSettings(SomaError):
    """The settings were not changed. Send only known keys with valid values; GET /v1/settings shows them all."""

    status_code = 422
    code = "invalid_settings"
