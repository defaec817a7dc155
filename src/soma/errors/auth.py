"""Who may call: logins, passwords, setup links, users and API keys."""

from __future__ import annotations

from soma.errors.base import SomaError


class Unauthenticated(SomaError):
    """Sign in first: log in on the web UI, or send `Authorization: Bearer <key>` with a key from `soma keys create`."""

    status_code = 401
    code = "unauthenticated"


class Forbidden(SomaError):
    """Your account or key is not allowed to do this. Ask an admin, or use a key with the needed scope."""

    status_code = 403
    code = "forbidden"


class KeysHaveNoPassword(Forbidden):
    """An API key has no password to change. Log in on the web UI to change your own; an admin resets another user's with `soma users reset-password`."""


class OwnAccountLocked(Forbidden):
    """Admins cannot disable or demote their own account, so an admin always remains. Ask another admin to do it."""


class CSRFRejected(SomaError):
    """A state-changing request made with the session cookie needs the X-CSRF-Token header from GET /v1/auth/me. Reload the page and try again."""

    status_code = 403
    code = "csrf"


class LoginFailed(SomaError):
    """Wrong username or password, or the account is disabled."""

    status_code = 401
    code = "login_failed"


class TooManyLoginAttempts(SomaError):
    """Too many failed logins. Wait and try again, or ask an admin to reset the password (`soma users reset-password`)."""

    status_code = 429
    code = "too_many_logins"

    def __init__(self, detail: str | None = None, retry_after: int = 60) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class SetupLinkInvalid(SomaError):
    """This setup link is used up or expired. Run `soma up` again for a new one, or create the admin with `soma users create --role admin`."""

    status_code = 410
    code = "setup_link_invalid"


class SetupDone(SomaError):
    """An account exists already, so setup links no longer work. Log in, or ask an admin to create your account."""

    status_code = 409
    code = "setup_done"


class WeakPassword(SomaError):
    """Choose a longer password."""

    status_code = 422
    code = "weak_password"


class PasswordTooLong(SomaError):
    """Choose a shorter password."""

    status_code = 422
    code = "password_too_long"


class PasswordsDiffer(SomaError):
    """The two passwords typed differ, so nothing changed. Type the same password twice."""

    status_code = 422
    code = "passwords_differ"


class InvalidUser(SomaError):
    """Fix the user's name or role and try again."""

    status_code = 422
    code = "invalid_user"


class UsernameTaken(SomaError):
    """Choose another username, or reset that user's password with `soma users reset-password`."""

    status_code = 409
    code = "username_taken"


class UserNotFound(SomaError):
    """List users with `soma users list` or GET /v1/users."""

    status_code = 404
    code = "user_not_found"


class KeyNotFound(SomaError):
    """List keys with `soma keys list` or GET /v1/keys."""

    status_code = 404
    code = "key_not_found"


class InvalidApiKey(SomaError):
    """Fix the key's name, scopes or expiry and try again."""

    status_code = 422
    code = "invalid_api_key"


class RevokeNeedsOneTarget(SomaError):
    """Give `soma keys revoke` one key id (from `soma keys list`), or --all to revoke every key."""

    status_code = 422
    code = "revoke_needs_one_target"


class BootstrapKeyInvalid(SomaError):
    """Put a long random key (e.g. from `openssl rand -hex 32`) in SOMA_BOOTSTRAP_ADMIN_KEY or in the file SOMA_BOOTSTRAP_ADMIN_KEY_FILE names, or unset both; docs/security.md explains the bootstrap key."""

    code = "bootstrap_key_invalid"


class WrongPassword(SomaError):
    """The current password is wrong, so nothing changed. Type it again, or ask an admin to reset it (`soma users reset-password`)."""

    status_code = 403
    code = "wrong_password"
