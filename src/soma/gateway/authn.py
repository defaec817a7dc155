"""Deny by default: every request proves who it is, except the few paths a stranger must reach.

A pure ASGI middleware, so Server-Sent Events are guarded like any other route. The caller is
found from `Authorization: Bearer <key>` (an API key) or the login cookie; cookie requests that
change state must also carry the session's CSRF token in `X-CSRF-Token`. Refusals are raised as
SomaErrors and rendered by gateway/error_shape.py.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from soma import errors
from soma.auth import keys, logins, tokens
from soma.auth.key_cache import KeyCache
from soma.auth.principal import CHAT, METRICS, Principal, user_scopes
from soma.gateway import status_api, tunnel_door

log = logging.getLogger(__name__)

COOKIE = "__Host-soma_session"  # __Host-: only this origin, path /, Secure
PLAIN_HTTP_COOKIE = "soma_session"  # browsers refuse Secure cookies from plain-HTTP, non-loopback origins
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# What a stranger may reach: probes, the login and setup pages with their assets, the two
# endpoints that turn a password or a setup link into a session, what the login page offers,
# the two ends of a single sign-on, and whether Soma is locked down.
PUBLIC_PATHS = {"/health", "/ready", "/login", "/setup", "/v1/auth/login", "/v1/auth/setup", "/favicon.ico",
                "/v1/auth/providers", "/v1/auth/oidc/login", "/v1/auth/oidc/callback", status_api.LOCKDOWN_PATH}  # fmt: skip
PUBLIC_PREFIXES = ("/static/",)
METRICS_PATH = "/metrics"


def is_public(path: str, metrics_open: bool) -> bool:
    """True for the allow-list; everything else needs credentials."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or (metrics_open and path == METRICS_PATH)


class Authenticate:
    """Puts the caller in `request.state.principal`, or raises Unauthenticated (401), Forbidden or CSRFRejected (403)."""

    def __init__(self, app: ASGIApp, metrics_open: bool, idle_seconds: float) -> None:
        self.app = app
        self.metrics_open = metrics_open
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"], self.metrics_open):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        principal = await self._principal(scope, headers)
        _check_scope(scope["path"], principal)
        if principal.session_id is not None and scope["method"] not in SAFE_METHODS:
            _check_csrf(headers.get(CSRF_HEADER, ""), principal.csrf_token or "")
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope, headers: Headers) -> Principal:
        engine = scope["app"].state.engine
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise errors.Unauthenticated("The Authorization header must be `Bearer <key>`.")
            return await self._key(scope, key.strip())
        cookie = session_cookie(scope, headers)
        if cookie:
            async with engine.begin() as conn:
                login = await logins.resolve(conn, cookie, self.idle_seconds)
            if login is None:
                raise errors.Unauthenticated("Your session has ended (logged out, expired or revoked).")
            return Principal("user", login.user_id, login.username, user_scopes(login.role), login.session_id, login.csrf_token)
        raise errors.Unauthenticated()

    async def _key(self, scope: Scope, key: str) -> Principal:
        """The key's principal: from this gateway's cache of keys accepted moments ago, else from the database."""
        cache: KeyCache | None = getattr(getattr(scope["app"].state, "notifier", None), "keys", None)
        digest = tokens.digest(key)
        if cache is not None and (cached := cache.get(digest)) is not None:
            return cached
        async with scope["app"].state.engine.begin() as conn:
            row = await keys.authenticate(conn, key)
        if row is None:
            raise errors.Unauthenticated("This API key is unknown, revoked or expired.")
        principal = Principal("key", row["id"], row["name"], frozenset(row["scopes"]))
        if cache is not None:
            cache.put(digest, principal, row["expires_at"])
        return principal


def session_cookie(scope: Scope, headers: Headers, plain: str = PLAIN_HTTP_COOKIE) -> str | None:
    """The login cookie's value (or another cookie of Soma's, by its `plain` name): on an HTTPS origin only the `__Host-` one, elsewhere under either name.

    A browser takes a `__Host-` cookie only from this very origin over HTTPS. The plain name could
    have been planted by a sibling subdomain or over plain HTTP, so an HTTPS origin ignores it.
    """
    cookies = {}
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        cookies[name] = value
    if https_origin(scope, headers):
        return cookies.get("__Host-" + plain) or None
    return cookies.get("__Host-" + plain) or cookies.get(plain) or None


def cookie_name_and_secure(scope: Scope, headers: Headers, plain: str = PLAIN_HTTP_COOKIE) -> tuple[str, bool]:
    """`__Host-` with Secure on an HTTPS origin and on loopback (where browsers accept Secure over HTTP); a plain name otherwise."""
    if https_origin(scope, headers) or _loopback(headers.get("host", "")):
        return "__Host-" + plain, True
    log.warning("login over plain HTTP from a non-loopback address: the %s cookie cannot be Secure; serve Soma over HTTPS", plain)
    return plain, False


def https_origin(scope: Scope, headers: Headers) -> bool:
    """True when the browser spoke HTTPS: the scheme says so, or the request came through the tunnel.

    Cloudflare hands tunnel requests to the gateway as plain HTTP: those on the tunnel's door, and
    those for SOMA_PUBLIC_URL's host (a named tunnel still pointed at the normal listener).
    """
    return scope.get("scheme") == "https" or tunnel_door.through(scope) or _public_origin(scope, headers.get("host", ""))


def _public_origin(scope: Scope, host: str) -> bool:
    public_url = scope["app"].state.settings.public_url if "app" in scope else None
    return bool(public_url) and host.lower() == public_url.partition("://")[2].lower()


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") else host[1:].split("]")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_scope(path: str, principal: Principal) -> None:
    """Metrics-only keys reach /metrics alone; everything else needs chat (admin has every scope)."""
    needed = METRICS if path == METRICS_PATH else CHAT
    if not principal.may(needed):
        raise errors.Forbidden(f"This credential lacks the {needed!r} scope.")


def _check_csrf(given: str, expected: str) -> None:
    """CSRFRejected unless the header holds the session's token; compared in constant time, as bytes (headers may hold any latin-1)."""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise errors.CSRFRejected()
