"""A small real OpenID provider for the ID tokens oidc-provider-mock never issues: for another audience, expired,
badly signed, from another issuer, with another nonce; and a signing key rotated on request.

    python tests/oidc/stand_in_provider.py PORT

Over HTTP on 127.0.0.1:PORT it serves discovery, the JWKS, an authorization endpoint that signs in at once whoever
`POST /_next` named (`{"sub", "claims", "fault"}`), and a token endpoint that checks the client, the redirect URI and
the PKCE verifier, then signs an ID token with its own RSA key, spoilt as `fault` says. `POST /_rotate` replaces
the signing key (a new `kid`). The standard library serves it: nothing here is Soma's code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

FAULTS = ("", "audience", "expired", "signature", "issuer", "nonce")


class Provider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"})
        self.next_login: dict = {"sub": "someone", "claims": {}, "fault": ""}
        self.codes: dict[str, dict] = {}

    def metadata(self) -> dict:
        return {
            "issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize", "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        }  # fmt: skip

    def authorize(self, query: dict[str, str]) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**self.next_login, **{k: query.get(k) for k in ("client_id", "redirect_uri", "nonce", "code_challenge")}}
        return query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})

    def token(self, form: dict[str, str], client_id: str) -> tuple[int, dict]:
        login = self.codes.pop(form.get("code", ""), None)
        if login is None or login["client_id"] != client_id or login["redirect_uri"] != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
        if challenge != login["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"}
        now, fault = int(time.time()), login["fault"]
        claims = {"iss": self.issuer, "sub": login["sub"], "aud": client_id, "iat": now, "exp": now + 300, "nonce": login["nonce"],
                  **login["claims"]}  # fmt: skip
        if fault == "audience":
            claims["aud"] = "another-application"
        elif fault == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif fault == "issuer":
            claims["iss"] = "https://impostor.example"
        elif fault == "nonce":
            claims["nonce"] = "a-nonce-of-another-login"
        key = self.key
        if fault == "signature":  # same kid, another private key: what a forger without the provider's key can make
            key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid})
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300, "id_token": id_token}


def serve(port: int) -> None:
    provider = Provider(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.metadata())
            elif url.path == "/jwks":
                self._json(200, KeySet([provider.key]).as_dict(private=False))
            elif url.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                self.send_response(302)
                self.send_header("Location", provider.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            path = urlparse(self.path).path
            if path == "/_next":
                provider.next_login = {"claims": {}, "fault": "", **json.loads(body)}
                self._json(200, {})
            elif path == "/_rotate":
                provider.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"})
                self._json(200, {"kid": provider.key.kid})
            elif path == "/token":
                form = {k: v[0] for k, v in parse_qs(body).items()}
                client_id = form.get("client_id", "")
                if self.headers.get("Authorization", "").startswith("Basic "):
                    client_id = base64.b64decode(self.headers["Authorization"][6:]).decode().split(":", 1)[0]
                self._json(*provider.token(form, client_id))
            else:
                self._json(404, {"error": "not_found"})

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
