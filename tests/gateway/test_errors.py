"""The one error shape, rendered in one place: what routing refuses, and what the middlewares around the routes refuse."""

from __future__ import annotations

import re
from pathlib import Path

from soma import errors
from tests.conftest import ADMIN, client_of
from tests.observability.scrape import Scrape

GATEWAY = Path(errors.__file__).parent.parent / "gateway"


async def test_a_method_a_path_does_not_answer_is_405_naming_every_method_it_does(api) -> None:
    response = await api.put("/v1/keys")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"  # Starlette named only the first route's: GET
    assert response.json() == {
        "error": {"code": "method_not_allowed", "message": "/v1/keys does not answer PUT; it answers GET, POST."}
    }


async def test_a_static_file_answers_405_with_its_own_methods(api) -> None:
    response = await api.post("/static/style.css")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_a_middlewares_refusal_is_rendered_like_a_routes_counted_and_given_a_request_id(gateway) -> None:
    async with client_of(gateway) as stranger:
        before = await _requests(gateway, "unmatched", "401")
        refused = await stranger.get("/v1/sessions")  # refused by Authenticate, before any route
        openai = await stranger.get("/v1/models")  # the same refusal, in OpenAI's shape on its routes
        page = await stranger.get("/", headers={"Accept": "text/html"})  # a browser is sent to log in
        after = await _requests(gateway, "unmatched", "401")

    assert (refused.status_code, refused.json()) == (401, {"error": {"code": "unauthenticated", "message": errors.Unauthenticated().message}})
    assert refused.headers["www-authenticate"] == 'Bearer realm="soma"' and refused.headers["x-request-id"]
    assert openai.json() == {
        "error": {"message": errors.Unauthenticated().message, "type": "authentication_error", "param": None, "code": "invalid_api_key"}
    }
    assert openai.headers["www-authenticate"] == 'Bearer realm="soma"' and openai.headers["x-request-id"]
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    assert after - before == 2  # both 401s counted (refused before routing: no route to label them with)


def test_only_gateway_error_shape_turns_errors_into_responses() -> None:
    builders = re.compile(r"from soma\.gateway\.error_shape import|error_shape\.(body|respond|render)\(|[\"']error[\"']\s*:|JSONResponse\(\s*\{\s*[\"']error")
    found = {
        path.name: sorted({m.group(0) for m in builders.finditer(path.read_text())})
        for path in sorted(GATEWAY.glob("*.py"))
        if path.name not in ("error_shape.py", "openai_errors.py")  # the one place, and the OpenAI body it sends
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


async def _requests(app, route: str, status: str) -> float:
    async with client_of(app, ADMIN) as api:
        return Scrape((await api.get("/metrics")).text).value("soma_http_requests_total", route=route, method="GET", status=status)
