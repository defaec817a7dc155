"""/v1/auth: what the login page offers (`providers`), and single sign-on's two ends: `oidc/login` to the provider, `oidc/callback` back.

The login leaves a started login in the database (soma.oidc.pending) and a binding cookie in the browser; the
callback takes both back, redeems the code, verifies the ID token (soma.oidc.provider), finds or makes the account
(soma.oidc.accounts) and starts an ordinary login session that lasts at most SOMA_OIDC_SESSION_HOURS. Each refusal
is a SomaError that starts no session; a browser sees it as a page (gateway/error_shape.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import RedirectResponse

from soma import config, errors
from soma.audit import log as audit
from soma.gateway import access, authn, login_cookie, openapi
from soma.oidc import accounts, pending
from soma.secrets import sources

if TYPE_CHECKING:  # imported when single sign-on is configured: Authlib and joserfc are 350 modules, 0.15 s of every start
    from soma.oidc import provider

router = APIRouter(prefix="/v1/auth", tags=["auth"])
BINDING_COOKIE = "soma_oidc"  # __Host-soma_oidc on HTTPS: ties a started login to the browser that started it
CALLBACK_PATH = "/v1/auth/oidc/callback"


@router.get("/providers")
async def providers(request: Request) -> dict[str, Any]:
    """What the login page offers, for anyone: the password form (`local`) and single sign-on's button (`oidc`: its name, or null)."""
    settings: config.Settings = request.app.state.settings
    return {"local": settings.local_login, "oidc": {"name": settings.oidc_name} if settings.oidc_issuer else None}


@router.get("/oidc/login", status_code=303, responses=openapi.raises(errors.OIDCNotConfigured, errors.OIDCProviderUnreachable, errors.TooManyLoginAttempts))
async def oidc_login(
    request: Request,
    next_path: str | None = Query(None, alias="next", max_length=pending.MAX_NEXT_CHARS, description="A path on this site to return to."),
) -> RedirectResponse:
    """Send the browser to the identity provider to sign in; it comes back to /v1/auth/oidc/callback."""
    idp = _provider(request.app)
    async with request.app.state.engine.begin() as conn:
        held = authn.session_cookie(request.scope, request.headers, BINDING_COOKIE)
        started = await pending.begin(conn, pending.safe_next(next_path), access.client_address(request), held)
    url = await idp.authorization_url(origin(request) + CALLBACK_PATH, started.state, started.nonce, started.code_verifier)
    response = RedirectResponse(url, status_code=303)
    name, secure = authn.cookie_name_and_secure(request.scope, request.headers, BINDING_COOKIE)
    lifetime = int(pending.LIFETIME.total_seconds())
    response.set_cookie(name, started.browser, max_age=lifetime, path="/", secure=secure, httponly=True, samesite="lax")
    return response


@router.get(
    "/oidc/callback",
    status_code=303,
    responses=openapi.raises(errors.OIDCNotConfigured, errors.OIDCStateInvalid, errors.OIDCProviderRefused, errors.OIDCTokenInvalid, errors.OIDCNotAllowed,
                             errors.OIDCNotInvited, errors.OIDCEmailUnverified, errors.OIDCProviderUnreachable),  # fmt: skip
)
async def oidc_callback(
    request: Request,
    state: str = Query("", max_length=200),
    code: str = Query("", max_length=4000),
    error: str = Query("", max_length=200),
) -> RedirectResponse:
    """Finish a sign-in the provider sends back: a session starts and the browser goes where the login began, or a refusal starts none."""
    settings: config.Settings = request.app.state.settings
    idp = _provider(request.app)
    engine = request.app.state.engine
    browser = authn.session_cookie(request.scope, request.headers, BINDING_COOKIE)
    async with engine.begin() as conn:  # committed before anything else: a state is used once, whatever follows
        started = await pending.take(conn, state, browser) if state else None
    if started is None:
        raise errors.OIDCStateInvalid()
    if error or not code:
        # The provider's error_description is not shown: anyone can put words in this URL.
        raise errors.OIDCProviderRefused(f"The identity provider answered {_code_word(error) or 'without a code'}.")
    secret = await asyncio.to_thread(_client_secret, settings)  # Vault's client blocks
    issued = await idp.redeem(code, origin(request) + CALLBACK_PATH, started.code_verifier, secret)
    claims = await idp.verify(issued, started.nonce)
    identity = accounts.Identity.from_claims(claims, settings.oidc_groups_claim)
    response = RedirectResponse(started.next_path, status_code=303)
    who = {"method": "oidc", "issuer": identity.issuer, "subject": identity.subject}
    try:
        async with engine.begin() as conn:
            user = await accounts.sign_in(conn, settings, identity)
            max_age = min(settings.oidc_session_hours * 3600, settings.session_max_seconds)
            await login_cookie.start_session(request, response, conn, user, max_age, "oidc")
            await audit.record(conn, "auth.login", f"user:{user['username']}", user["username"].lower(), {**who, "role": user["role"]},
                               access.client_address(request))  # fmt: skip
    except errors.SomaError as exc:  # the provider vouched for this person, and Soma refused them: admins see who and why
        async with engine.begin() as conn:
            await audit.record(conn, "auth.login.refused", f"oidc:{identity.issuer}", identity.subject, {**who, "reason": exc.code},
                               access.client_address(request))  # fmt: skip
        raise
    return response  # the binding cookie stays: another tab's sign-in may still come back with it (it expires in 10 minutes)


def provider_of(app: FastAPI) -> provider.Provider | None:
    """This gateway's identity provider (made on first use), or None when single sign-on is off."""
    settings: config.Settings = app.state.settings
    if not settings.oidc_issuer:
        return None
    if getattr(app.state, "oidc", None) is None:
        if not settings.oidc_client_id:
            raise errors.OIDCSettingsInvalid("SOMA_OIDC_ISSUER is set but SOMA_OIDC_CLIENT_ID is not.")
        from soma.oidc import provider

        app.state.oidc = provider.Provider(settings)
    return app.state.oidc


def origin(request: Request) -> str:
    """This site's origin as the browser sees it: https through the tunnel or SOMA_PUBLIC_URL, like the cookies' Secure."""
    scheme = "https" if authn.https_origin(request.scope, request.headers) else request.url.scheme
    return f"{scheme}://{request.headers.get('host') or request.url.netloc}"


def _provider(app: FastAPI) -> provider.Provider:
    found = provider_of(app)
    if found is None:
        raise errors.OIDCNotConfigured()
    return found


def _client_secret(settings: config.Settings) -> str:
    """Read at each login, from the first configured of Vault, the file and the variable, so a rotated secret applies at once."""
    source = sources.chosen(sources.for_oidc_client_secret(settings))
    reading = source.read()
    if reading.value is None:
        raise errors.OIDCSecretMissing(f"No client secret: {reading.missing} ({reading.origin}).")
    return reading.value


def _code_word(error: str) -> str:
    """The provider's error code, if it is one (OAuth codes are lower-case words with underscores), else nothing."""
    return error if error and len(error) <= 64 and error.replace("_", "").isalpha() and error.islower() else ("an error" if error else "")
