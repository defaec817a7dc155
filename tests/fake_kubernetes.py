"""The one Kubernetes API call Vault's kubernetes auth makes: a TokenReview, answered by a real HTTP server.

No Kubernetes API server runs here, and it is outside Soma, so this stands in for it. Run:
  python tests/fake_kubernetes.py PORT TOKENS_JSON
where TOKENS_JSON maps service-account tokens to {"namespace", "name", "uid"}; any other token is
reviewed as not authenticated, as the API server would for a forged or deleted service account.
"""

from __future__ import annotations

import base64
import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def service_account_jwt(namespace: str, name: str, uid: str) -> str:
    """A token shaped like a projected service-account token (claims only; this server, not a signature, vouches for it)."""
    def part(value: dict | bytes) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {
        "iss": "https://kubernetes.default.svc.cluster.local", "sub": f"system:serviceaccount:{namespace}:{name}",
        "aud": [AUDIENCE],
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
    }  # fmt: skip
    return ".".join([part({"alg": "RS256", "kid": "test"}), part(claims), part(b"\x00" * 256)])


def build(tokens: dict[str, dict[str, str]]) -> Starlette:
    async def token_review(request: Request) -> JSONResponse:
        review = await request.json()
        account = tokens.get(review["spec"]["token"])
        status: dict = {"authenticated": False, "error": "token not recognised"}
        if account:
            username = f"system:serviceaccount:{account['namespace']}:{account['name']}"
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{account['namespace']}", "system:authenticated"]
            audiences = review["spec"].get("audiences") or [AUDIENCE]
            status = {"authenticated": True, "user": {"username": username, "uid": account["uid"], "groups": groups}, "audiences": audiences}
        return JSONResponse({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "status": status}, 201)

    return Starlette(routes=[Route("/apis/authentication.k8s.io/v1/tokenreviews", token_review, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(build(json.loads(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
