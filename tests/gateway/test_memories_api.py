"""The memories API in-process: create, merge, page, search, change, delete, and bad input that stores nothing."""

from __future__ import annotations

import psycopg
import pytest

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
NOT_FOUND = "No memory has this id. List memories with GET /v1/memories, or search them with GET /v1/memories?query=…."


def _contents(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT id, content, source, embedding_model FROM memories ORDER BY id").fetchall()


async def test_a_memory_is_created_and_fetched(api, database_url) -> None:
    response = await api.post("/v1/memories", json={"content": "I prefer answers in metric units."})

    assert response.status_code == 201
    memory = response.json()
    assert memory == {
        "id": 1,
        "content": "I prefer answers in metric units.",
        "source": "user",
        "embedding_model": MODEL,
        "created_at": memory["created_at"],
        "updated_at": memory["created_at"],
        "merged": False,
    }
    fetched = await api.get("/v1/memories/1")
    assert fetched.status_code == 200
    assert fetched.json() == {k: v for k, v in memory.items() if k != "merged"}
    assert _contents(database_url) == [(1, "I prefer answers in metric units.", "user", MODEL)]


async def test_the_same_fact_twice_is_one_memory_answered_200_merged(api, database_url) -> None:
    first = (await api.post("/v1/memories", json={"content": "my favourite colour is teal"})).json()

    response = await api.post("/v1/memories", json={"content": "My favorite color is teal."})

    assert response.status_code == 200
    merged = response.json()
    assert (merged["id"], merged["content"], merged["merged"]) == (first["id"], "My favorite color is teal.", True)
    assert _contents(database_url) == [(1, "My favorite color is teal.", "user", MODEL)]


async def test_the_list_pages_newest_first(api) -> None:
    facts = ["I own a red bicycle.", "The boiler was serviced in May.", "Tom is allergic to cats."]
    for fact in facts:
        assert (await api.post("/v1/memories", json={"content": fact})).status_code == 201

    first = (await api.get("/v1/memories", params={"limit": 2})).json()
    rest = (await api.get("/v1/memories", params={"limit": 2, "before": first["next"]})).json()

    assert [m["content"] for m in first["memories"]] == ["Tom is allergic to cats.", "The boiler was serviced in May."]
    assert first["next"] == 2
    assert rest == {"memories": [(await api.get("/v1/memories/1")).json()], "next": None}
    assert (await api.get("/v1/memories")).json()["memories"] == first["memories"] + rest["memories"]


async def test_an_empty_list_has_no_next_page(api) -> None:
    assert (await api.get("/v1/memories")).json() == {"memories": [], "next": None}


async def test_a_search_returns_the_closest_memories_with_their_similarity(api) -> None:
    for fact in ("I own a red bicycle.", "My sister Alice lives in Lisbon.", "The boiler was serviced in May."):
        await api.post("/v1/memories", json={"content": fact})

    response = await api.get("/v1/memories", params={"query": "Where does my sister live?", "limit": 2})

    assert response.status_code == 200
    found = response.json()
    assert list(found) == ["memories"]
    best, second = found["memories"]
    assert best == {**(await api.get("/v1/memories/2")).json(), "similarity": best["similarity"]}
    assert best["similarity"] > 0.6 > second["similarity"]


async def test_a_patch_changes_the_content_and_what_a_search_finds(api, database_url) -> None:
    created = (await api.post("/v1/memories", json={"content": "The meeting is on Tuesday."})).json()

    response = await api.patch(f"/v1/memories/{created['id']}", json={"content": "The dentist is on Baker Street."})

    assert response.status_code == 200
    updated = response.json()
    assert (updated["id"], updated["content"], updated["source"]) == (created["id"], "The dentist is on Baker Street.", "user")
    assert updated["updated_at"] > created["updated_at"]
    found = (await api.get("/v1/memories", params={"query": "The dentist is on Baker Street.", "limit": 1})).json()
    assert found == {"memories": [{**updated, "similarity": 1.0}]}


async def test_a_deleted_memory_is_404_afterwards(api, database_url) -> None:
    created = (await api.post("/v1/memories", json={"content": "The spare key is under the mat."})).json()

    response = await api.delete(f"/v1/memories/{created['id']}")

    assert (response.status_code, response.content) == (204, b"")
    assert _contents(database_url) == []
    gone = await api.get(f"/v1/memories/{created['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"error": {"code": "not_found", "message": f"Memory {created['id']} does not exist. {NOT_FOUND}"}}


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("PATCH", {"content": "x"}), ("DELETE", None)])
async def test_an_unknown_id_is_404(api, method, body) -> None:
    response = await api.request(method, "/v1/memories/99", json=body)

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": f"Memory 99 does not exist. {NOT_FOUND}"}}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "the body is not valid JSON"),
        (b'{"content": ""}', "content: Value error, content must not be empty"),
        (b'{"content": " \\n "}', "content: Value error, content must not be empty"),
        (b'{"text": "hi"}', "content: Field required; text: Extra inputs are not permitted"),
        (b'{"content": "hi", "source": "agent"}', "source: Extra inputs are not permitted"),
        (b'{"content": 5}', "content: Input should be a valid string"),
    ],
)
async def test_malformed_or_empty_memories_are_422_and_store_nothing(api, database_url, body, problem) -> None:
    for method, path in (("POST", "/v1/memories"), ("PATCH", "/v1/memories/1")):
        response = await api.request(method, path, content=body, headers={"content-type": "application/json"})

        assert response.status_code == 422
        assert response.json() == {
            "error": {
                "code": "invalid_request",
                "message": f"The request is not valid: {problem}. Fix the request and send it again.",
            }
        }
    assert _contents(database_url) == []


async def test_a_memory_over_4000_characters_is_413_and_stores_nothing(api, database_url) -> None:
    response = await api.post("/v1/memories", json={"content": "x" * 4001})

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "memory_too_large",
            "message": "The memory has 4001 characters. A memory holds at most 4000 characters. "
            "Store a shorter fact, or split it into several memories.",
        }
    }
    assert _contents(database_url) == []
    assert (await api.post("/v1/memories", json={"content": "x" * 4000})).status_code == 201


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"limit": 0}, "invalid_request", "The request is not valid: query.limit: Input should be greater than or equal to 1. "
         "Fix the request and send it again."),
        ({"limit": 101}, "invalid_request", "The request is not valid: query.limit: Input should be less than or equal to 100. "
         "Fix the request and send it again."),
        ({"query": " "}, "invalid_memory", "The search text is empty. The memory request is not valid. "
         'Send {"content": "the fact"} with some text; search with ?query=…, which returns one page.'),
        ({"query": "tea", "before": 5}, "invalid_memory", "'before' pages the list, but a search returns a single page. "
         'The memory request is not valid. Send {"content": "the fact"} with some text; search with ?query=…, which returns one page.'),
    ],
)
async def test_bad_list_or_search_parameters_are_422(api, params, code, message) -> None:
    response = await api.get("/v1/memories", params=params)

    assert response.status_code == 422
    assert response.json() == {"error": {"code": code, "message": message}}
