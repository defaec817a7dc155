"""The sessions and messages API in-process: shapes, and bad input that stores nothing."""

from __future__ import annotations

import psycopg
import pytest

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _counts(database_url: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM session_events),"
            " (SELECT count(*) FROM procrastinate_jobs)"
        ).fetchone()


async def test_a_session_is_created_listed_and_fetched(api) -> None:
    created = await api.post("/v1/sessions", json={"title": "Plans"})
    assert created.status_code == 201
    session = created.json()
    assert session["title"] == "Plans" and session["last_event_id"] == 0

    assert (await api.get(f"/v1/sessions/{session['id']}")).json() == session
    assert (await api.get("/v1/sessions")).json() == {"sessions": [session]}


async def test_a_posted_message_is_stored_with_its_event_and_turn_job(api, database_url) -> None:
    session = (await api.post("/v1/sessions")).json()

    response = await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "Hello, Soma"})

    assert response.status_code == 202
    message = response.json()
    assert (message["role"], message["content"], message["session_id"]) == ("user", "Hello, Soma", session["id"])
    listed = (await api.get(f"/v1/sessions/{session['id']}/messages")).json()["messages"]
    assert listed == [message]
    assert _counts(database_url) == (1, 1, 1)
    with psycopg.connect(database_url) as conn:
        job = conn.execute("SELECT task_name, lock, args, status FROM procrastinate_jobs").fetchone()
    args = {"session_id": session["id"], "message_id": message["id"], "request_id": response.headers["X-Request-ID"]}
    assert job == ("soma.turn", f"session:{session['id']}", args, "todo")


async def test_the_first_message_names_an_untitled_session(api) -> None:
    session = (await api.post("/v1/sessions", json={})).json()
    assert session["title"] == "New chat"
    await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "Plan a trip to Lisbon"})
    assert (await api.get(f"/v1/sessions/{session['id']}")).json()["title"] == "Plan a trip to Lisbon"


async def test_a_message_to_an_unknown_session_is_404_and_stores_nothing(api, database_url) -> None:
    response = await api.post(f"/v1/sessions/{UNKNOWN}/messages", json={"content": "hi"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": f"Session '{UNKNOWN}' does not exist. No chat session has this id. "
            "List sessions with GET /v1/sessions, or create one with POST /v1/sessions.",
        }
    }
    assert _counts(database_url) == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "the body is not valid JSON"),
        (b'{"content": ""}', "content: Value error, content must not be empty"),
        (b'{"content": "   \\n "}', "content: Value error, content must not be empty"),
        (b'{"text": "hi"}', "content: Field required"),
    ],
)
async def test_malformed_or_empty_messages_are_422_and_store_nothing(api, database_url, body, problem) -> None:
    session = (await api.post("/v1/sessions")).json()

    response = await api.post(
        f"/v1/sessions/{session['id']}/messages", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert problem in error["message"]
    assert _counts(database_url) == (0, 0, 0)


async def test_a_message_over_the_size_limit_is_413_and_stores_nothing(api, database_url, settings) -> None:
    session = (await api.post("/v1/sessions")).json()
    too_long = "x" * (settings.max_message_chars + 1)

    response = await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": too_long})

    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "message_too_large",
        "message": f"The message has {len(too_long)} characters; the limit is {settings.max_message_chars}. "
        "The message is longer than SOMA_MAX_MESSAGE_CHARS allows. Send a shorter message or raise that limit.",
    }
    assert _counts(database_url) == (0, 0, 0)


async def test_a_message_at_the_size_limit_is_accepted(api, settings) -> None:
    session = (await api.post("/v1/sessions")).json()
    response = await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "x" * settings.max_message_chars})
    assert response.status_code == 202


async def test_a_malformed_session_id_is_422(api) -> None:
    response = await api.get("/v1/sessions/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_a_body_larger_than_any_valid_message_is_413_before_it_is_read(api, database_url, settings) -> None:
    session = (await api.post("/v1/sessions")).json()
    huge = b'{"content": "' + b"x" * (settings.max_message_chars * 6 + 70_000) + b'"}'

    response = await api.post(
        f"/v1/sessions/{session['id']}/messages", content=huge, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert "SOMA_MAX_MESSAGE_CHARS" in response.json()["error"]["message"]
    assert _counts(database_url) == (0, 0, 0)
