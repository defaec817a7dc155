"""The identity provider as Soma sees it: discovery, its signing keys, the code exchange and the ID token's checks.

The only code that talks to the provider. Authlib's httpx client builds the authorization URL (PKCE S256, state,
nonce) and redeems the code; the ID token is verified here with joserfc and Authlib's `CodeIDToken` rules, with
every option spelled out rather than left to defaults: the signature against the provider's JWKS with
asymmetric algorithms only, `iss` equal to SOMA_OIDC_ISSUER, `aud` holding SOMA_OIDC_CLIENT_ID, `exp`, `iat`, the
nonce of this login, `azp` and `at_hash` when present (docs/security.md, "Single sign-on").

The discovery document and the JWKS are cached for CACHE_SECONDS. A token signed with a key id the cache does not
hold makes one fresh JWKS fetch, at most once per REFETCH_SECONDS, so a key rotated at the provider is followed at
the next login while a stream of made-up key ids cannot make Soma hammer the provider.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from soma import config, errors

CACHE_SECONDS = 3600.0  # how long the discovery document and the JWKS are trusted
REFETCH_SECONDS = 60.0  # at most one forced JWKS fetch this often (an unknown key id)
TIMEOUT_SECONDS = 10.0  # for each request to the provider
LEEWAY_SECONDS = 120  # clock difference tolerated on exp, iat and nbf
# Asymmetric only: `none` forges anything, and an HMAC algorithm would make the client secret a signing key.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint answered: the ID token and the access token (checked against `at_hash`, then dropped)."""

    id_token: str
    access_token: str | None


class Provider:
    """One identity provider (SOMA_OIDC_ISSUER), shared by a gateway's requests on app.state."""

    def __init__(self, settings: config.Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.scopes = scopes(settings.oidc_scopes)
        self._metadata: dict[str, Any] | None = None
        self._metadata_until = 0.0
        self._keys: KeySet | None = None
        self._keys_until = 0.0
        self._forced_at = -REFETCH_SECONDS

    async def metadata(self) -> dict[str, Any]:
        """The discovery document; OIDCProviderUnreachable when it cannot be had or does not describe this issuer."""
        if self._metadata is not None and time.monotonic() < self._metadata_until:
            return self._metadata
        document = await self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH)
        if document.get("issuer") != self.issuer:
            raise errors.OIDCProviderUnreachable(
                f"The discovery document names issuer {document.get('issuer')!r}, not SOMA_OIDC_ISSUER {self.issuer!r}."
            )
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not isinstance(document.get(k), str)]
        if missing:
            raise errors.OIDCProviderUnreachable(f"The discovery document lacks {', '.join(missing)}.")
        self._metadata, self._metadata_until = document, time.monotonic() + CACHE_SECONDS
        return document

    async def authorization_url(self, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        """Where the browser goes to sign in: the code flow with PKCE (S256), state and nonce."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        async with self._client(None, redirect_uri) as client:
            url, _ = client.create_authorization_url(endpoint, state=state, nonce=nonce, code_verifier=code_verifier)
        return url

    async def redeem(self, code: str, redirect_uri: str, code_verifier: str, secret: str) -> Tokens:
        """Exchange the code at the token endpoint; OIDCProviderRefused when the provider refuses it (used, expired, not ours)."""
        endpoint = (await self.metadata())["token_endpoint"]
        async with self._client(secret, redirect_uri) as client:
            try:
                answer = await client.fetch_token(endpoint, code=code, code_verifier=code_verifier)
            except (httpx.HTTPError, ValueError) as exc:  # unreachable, or an answer that is not JSON
                raise errors.OIDCProviderUnreachable(f"The token endpoint could not be reached ({type(exc).__name__}).") from exc
            except AuthlibBaseError as exc:  # the provider said no: invalid_grant for a code used twice, invalid_client
                raise errors.OIDCProviderRefused(f"The identity provider refused the sign-in code ({exc.error or type(exc).__name__}).") from exc
        if not isinstance(answer.get("id_token"), str):
            raise errors.OIDCTokenInvalid("The token endpoint answered without an ID token (is `openid` among SOMA_OIDC_SCOPES?).")
        return Tokens(answer["id_token"], answer.get("access_token"))

    async def verify(self, tokens: Tokens, nonce: str) -> dict[str, Any]:
        """The ID token's claims once every check passed; OIDCTokenInvalid naming the first that failed."""
        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in ALGORITHMS]
        if not algorithms:
            raise errors.OIDCTokenInvalid(f"The provider signs ID tokens only with {', '.join(map(str, offered))}, none of which Soma accepts.")
        try:
            try:
                token = jwt.decode(tokens.id_token, await self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                token = jwt.decode(tokens.id_token, await self._key_set(force=True), algorithms=algorithms)
            options = {"iss": {"essential": True, "value": self.issuer}, "aud": {"essential": True, "value": self.client_id},
                       "sub": {"essential": True}, "exp": {"essential": True}, "iat": {"essential": True}}  # fmt: skip
            params = {"nonce": nonce, "client_id": self.client_id, "access_token": tokens.access_token}
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(leeway=LEEWAY_SECONDS)
        except ExpiredTokenError as exc:
            raise errors.OIDCTokenInvalid("The ID token has expired.") from exc
        except (InvalidClaimError, MissingClaimError) as exc:
            raise errors.OIDCTokenInvalid(f"The ID token's {_claim(exc)!r} claim is {'missing' if isinstance(exc, MissingClaimError) else 'wrong'}.") from exc
        except InvalidKeyIdError as exc:
            raise errors.OIDCTokenInvalid("The ID token is signed with a key the provider does not publish.") from exc
        except (JoseError, ValueError) as exc:  # a bad signature, a malformed token, an algorithm outside the list
            raise errors.OIDCTokenInvalid(f"The ID token's signature does not verify ({getattr(exc, 'error', None) or type(exc).__name__}).") from exc
        return dict(claims)

    async def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """The provider's end-session URL that comes back to `post_logout_redirect_uri`, or None when it has none."""
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except errors.OIDCProviderUnreachable:
            return None  # logging out of Soma must not depend on the provider
        if not isinstance(endpoint, str):
            return None
        return str(httpx.URL(endpoint).copy_merge_params({"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}))

    async def _key_set(self, force: bool = False) -> KeySet:
        now = time.monotonic()
        stale = self._keys is None or now >= self._keys_until
        if force and now - self._forced_at >= REFETCH_SECONDS:
            self._forced_at, stale = now, True
        if stale:
            document = await self._get_json((await self.metadata())["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise errors.OIDCProviderUnreachable("The provider's JWKS holds no usable key.") from exc
            self._keys_until = now + CACHE_SECONDS
        assert self._keys is not None
        return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise errors.OIDCProviderUnreachable(f"GET {url} failed ({type(exc).__name__}).") from exc
        if not isinstance(document, dict):
            raise errors.OIDCProviderUnreachable(f"GET {url} did not answer a JSON object.")
        return document

    def _client(self, secret: str | None, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id, client_secret=secret, scope=self.scopes, redirect_uri=redirect_uri,
            code_challenge_method="S256", timeout=TIMEOUT_SECONDS,
        )  # fmt: skip


def scopes(spec: str) -> str:
    """SOMA_OIDC_SCOPES as sent: `openid` first, always, then the others once each."""
    names = [s for s in spec.replace(",", " ").split() if s != "openid"]
    return " ".join(["openid", *dict.fromkeys(names)])


def _claim(exc: JoseError) -> str:
    return getattr(exc, "claim", None) or str(exc).rsplit(" ", 1)[-1].strip("'\"")
