"""Single sign-on with an OpenID Connect provider, and password logins when local login is off."""

from __future__ import annotations

from soma.errors.base import SomaError


class OIDCNotConfigured(SomaError):
    """Single sign-on is not configured here. Set SOMA_OIDC_ISSUER, SOMA_OIDC_CLIENT_ID and the client secret (docs/runbooks/configure-sso.md), or log in with a password."""

    status_code = 404
    code = "oidc_not_configured"


class OIDCSettingsInvalid(SomaError):
    """The single sign-on settings are incomplete. Set what is named (docs/runbooks/configure-sso.md), then start again."""

    code = "oidc_settings_invalid"


class OIDCSecretMissing(SomaError):
    """Soma's client secret at the identity provider cannot be read, so nobody can sign in with it. Store it where named (docs/runbooks/configure-sso.md); break-glass admins can still log in with a password."""

    status_code = 503
    code = "oidc_client_secret_missing"


class OIDCProviderUnreachable(SomaError):
    """The identity provider cannot be reached or answered something that is not OpenID Connect, so nobody can sign in with it now. Try again later; an admin can check SOMA_OIDC_ISSUER, and break-glass admins can still log in with a password."""

    status_code = 503
    code = "oidc_provider_unreachable"
    retry_after = 30


class OIDCStateInvalid(SomaError):
    """This sign-in is unknown, finished already, older than 10 minutes or was started in another browser; nobody was signed in. Start again from the login page."""

    status_code = 400
    code = "oidc_state_invalid"


class OIDCProviderRefused(SomaError):
    """The identity provider did not sign you in; nobody was signed in. Start again from the login page, or ask your identity provider's administrator."""

    status_code = 401
    code = "oidc_provider_refused"


class OIDCTokenInvalid(SomaError):
    """The identity provider's ID token failed Soma's checks, so nobody was signed in. Start again from the login page; if it keeps failing, an admin should compare SOMA_OIDC_ISSUER and SOMA_OIDC_CLIENT_ID with the provider's settings and the clocks of both machines."""

    status_code = 401
    code = "oidc_token_invalid"


class OIDCNotAllowed(SomaError):
    """Your account at the identity provider is not in a group allowed to use Soma (SOMA_OIDC_ALLOWED_GROUPS), so nobody was signed in. Ask an admin to add you to one."""

    status_code = 403
    code = "oidc_not_allowed"


class OIDCNotInvited(SomaError):
    """Soma accepts only invited people (SOMA_OIDC_PROVISIONING=invite) and no account awaits this verified e-mail, so nobody was signed in. Ask an admin to create your account with your e-mail."""

    status_code = 403
    code = "oidc_not_invited"


class OIDCEmailUnverified(SomaError):
    """The identity provider does not say your e-mail is verified, and an invitation binds only to a verified e-mail, so nobody was signed in. Verify your e-mail at the identity provider, then sign in again."""

    status_code = 403
    code = "oidc_email_unverified"


class LocalLoginOff(SomaError):
    """Password login is turned off here (SOMA_LOCAL_LOGIN=false): sign in with the identity provider. Only break-glass admins (`soma users create NAME --role admin --break-glass`) may use a password."""

    status_code = 403
    code = "local_login_off"
