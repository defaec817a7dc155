"""The one error shape for what routing refuses: a method a path does not answer."""

from __future__ import annotations


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
