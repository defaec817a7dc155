"""The sessions and messages API in-process: shapes, and bad input that stores nothing."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from soma.conversations import events, export
from tests import tool_steps
from tests.conftest import client_of

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


async def _member(api, gateway, name: str):
    """A client with a chat-scoped API key: a member who sees only their own chats."""
    key = (await api.post("/v1/keys", json={"name": name, "scopes": ["chat"]})).json()["key"]
    return client_of(gateway, {"Authorization": f"Bearer {key}"})


async def test_a_chat_is_renamed_with_its_title_trimmed_and_its_streams_told(api, database_url) -> None:
    session = (await api.post("/v1/sessions", json={"title": "Plans"})).json()

    response = await api.patch(f"/v1/sessions/{session['id']}", json={"title": "  Trip\n to   Lisbon "})

    assert response.status_code == 200
    assert response.json() == {**session, "title": "Trip to Lisbon", "last_event_id": 1}
    with psycopg.connect(database_url) as conn:
        event = conn.execute("SELECT type, data FROM session_events").fetchone()
    assert event == ("session.updated", {"session": response.json()})


async def test_a_blank_or_overlong_title_is_422_and_changes_nothing(api) -> None:
    session = (await api.post("/v1/sessions", json={"title": "Plans"})).json()
    for body, problem in (
        ({"title": "   "}, "title: Value error, title must not be empty"),
        ({"title": "x" * 201}, "title: String should have at most 200 characters"),
        ({}, "title: Field required"),
    ):
        response = await api.patch(f"/v1/sessions/{session['id']}", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request"), body
        assert problem in response.json()["error"]["message"]
    assert (await api.get(f"/v1/sessions/{session['id']}")).json() == session


async def test_a_deleted_chat_takes_its_messages_events_and_queued_turns_along_and_is_audited(api, database_url) -> None:
    kept = (await api.post("/v1/sessions", json={"title": "Kept"})).json()
    await api.post(f"/v1/sessions/{kept['id']}/messages", json={"content": "stay"})
    session = (await api.post("/v1/sessions", json={"title": "Secret plans"})).json()
    await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "one"})
    await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "two"})

    response = await api.delete(f"/v1/sessions/{session['id']}")

    assert (response.status_code, response.content) == (204, b"")
    assert (await api.get(f"/v1/sessions/{session['id']}")).status_code == 404
    assert (await api.delete(f"/v1/sessions/{session['id']}")).status_code == 404
    assert _counts(database_url) == (1, 1, 1)  # only the kept chat's
    with psycopg.connect(database_url) as conn:
        entry = conn.execute("SELECT action, actor, target, details FROM audit_log WHERE action = 'session.deleted'").fetchone()
    assert entry == ("session.deleted", "key:bootstrap admin (SOMA_BOOTSTRAP_ADMIN_KEY)", session["id"], {"title": "Secret plans"})


async def test_automatic_titles_are_the_first_line_cut_at_a_word(api) -> None:
    session = (await api.post("/v1/sessions")).json()
    text = "\n  Please help me write a short letter to my landlord about the heating\nIt broke."
    await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": text})
    assert (await api.get(f"/v1/sessions/{session['id']}")).json()["title"] == "Please help me write a short letter to my…"


async def test_search_finds_chats_by_title_and_message_words_best_first(api) -> None:
    titled = (await api.post("/v1/sessions", json={"title": "Zanzibar trip"})).json()
    mentioned = (await api.post("/v1/sessions", json={"title": "Holidays"})).json()
    await api.post(f"/v1/sessions/{mentioned['id']}/messages", json={"content": "What about ZANZIBAR, in June?"})
    await api.post("/v1/sessions", json={"title": "Taxes"})

    async def found(query: str) -> list[str]:
        response = await api.get("/v1/sessions", params={"query": query})
        assert response.status_code == 200
        return [s["title"] for s in response.json()["sessions"]]

    assert await found("zanzibar") == ["Zanzibar trip", "Holidays"]  # a title hit ranks first
    assert await found("zanz") == ["Zanzibar trip", "Holidays"]  # words are prefixes, as typed
    assert await found("zanzibar june") == ["Holidays"]  # every word must match
    assert await found("'!&|:*()") == []  # no words, and nothing the query syntax could choke on
    assert len(await found("  ")) == 3  # a blank query lists every chat
    assert (await api.get("/v1/sessions", params={"query": "x" * 201})).status_code == 422


async def test_an_export_holds_the_whole_chat_as_markdown_or_json(api) -> None:
    session = (await api.post("/v1/sessions", json={"title": "Trip: Lisbon/Porto"})).json()
    user = (await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "Plan **three** days"})).json()

    markdown = await api.get(f"/v1/sessions/{session['id']}/export", params={"format": "markdown"})
    as_json = await api.get(f"/v1/sessions/{session['id']}/export", params={"format": "json"})

    assert markdown.status_code == 200
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == 'attachment; filename="soma-trip-lisbon-porto.md"'
    lines = markdown.text.splitlines()
    assert lines[0] == "# Trip: Lisbon/Porto"
    assert lines[4].startswith("## You · ") and lines[4].endswith(" UTC")
    assert lines[6] == "Plan **three** days"
    assert as_json.headers["content-disposition"] == 'attachment; filename="soma-trip-lisbon-porto.json"'
    exported = as_json.json()
    assert exported["session"] == (await api.get(f"/v1/sessions/{session['id']}")).json()
    assert exported["messages"] == [user]
    assert (await api.get(f"/v1/sessions/{session['id']}/export", params={"format": "pdf"})).status_code == 422


async def test_an_export_holds_each_answers_tool_steps_for_every_version(api, gateway) -> None:
    session = (await api.post("/v1/sessions", json={"title": "Notes"})).json()
    asked = (await api.post(f"/v1/sessions/{session['id']}/messages", json={"content": "Where are my notes?"})).json()["id"]
    chat = uuid.UUID(session["id"])
    async with gateway.state.engine.begin() as conn:
        await tool_steps.turn_started(conn, chat, asked)
        await tool_steps.started(conn, chat, asked, "lost", "fetch", {"url": "https://example.com"}, server="web")
        await events.append(conn, chat, events.TURN_FAILED, {"reply_to": asked, "reason": "slm_unavailable", "message": "…"})
        # Tried again: the failed run's call is not the answer's.
        await tool_steps.turn_started(conn, chat, asked)
        await tool_steps.started(conn, chat, asked, "c1", "search_memory", '{"query": "notes"}')
        await tool_steps.finished(conn, chat, asked, "c1", "search_memory", "1. Notes live in /srv/notes.txt", duration_ms=8)
        await tool_steps.started(conn, chat, asked, "c2", "read_lines", {"path": "/srv/notes.txt"}, server="files")
        await tool_steps.turn_started(conn, chat, asked)  # the worker died; the resumed run runs c2 again
        await tool_steps.started(conn, chat, asked, "c2", "read_lines", {"path": "/srv/notes.txt"}, server="files")
        await tool_steps.finished(conn, chat, asked, "c2", "read_lines", "```\nbuy milk\n```", duration_ms=1530)
        await tool_steps.answer(conn, chat, asked, "Your notes are in /srv/notes.txt.")
        await tool_steps.turn_started(conn, chat, asked)  # answered again
        await tool_steps.started(conn, chat, asked, "c3", "delete_file", {"path": "/srv/notes.txt"}, server="files")
        await tool_steps.finished(conn, chat, asked, "c3", "delete_file", "", ok=False, duration_ms=0, error="The user denied this call.")
        await tool_steps.answer(conn, chat, asked, "I left the file alone.", generation=2)

    exported = (await api.get(f"/v1/sessions/{session['id']}/export", params={"format": "json"})).json()
    markdown = (await api.get(f"/v1/sessions/{session['id']}/export", params={"format": "markdown"})).text

    user, answer = exported["messages"]
    assert "steps" not in user
    assert answer["steps"] == [
        {"call_id": "c3", "name": "delete_file", "server": "files", "arguments": {"path": "/srv/notes.txt"},
         "ok": False, "result": "", "error": "The user denied this call.", "duration_ms": 0},
    ]  # fmt: skip
    assert answer["versions"][0]["content"] == "Your notes are in /srv/notes.txt."
    assert answer["versions"][0]["steps"] == [
        {"call_id": "c1", "name": "search_memory", "server": "soma", "arguments": '{"query": "notes"}',
         "ok": True, "result": "1. Notes live in /srv/notes.txt", "error": None, "duration_ms": 8},
        {"call_id": "c2", "name": "read_lines", "server": "files", "arguments": {"path": "/srv/notes.txt"},
         "ok": True, "result": "```\nbuy milk\n```", "error": None, "duration_ms": 1530},
    ]  # fmt: skip
    answer_at = markdown.index("## Assistant · ")
    assert markdown[answer_at:].split("\n")[1:] == [
        "",
        "**Step 1: delete_file** (files) · failed · 0 ms",
        "",
        "Arguments:",
        "",
        "```json",
        "{",
        '  "path": "/srv/notes.txt"',
        "}",
        "```",
        "",
        "Error:",
        "",
        "```text",
        "The user denied this call.",
        "```",
        "",
        "I left the file alone.",
        "",
        "_1 earlier version(s) in the JSON export._",
        "",
    ]


def test_an_exported_step_keeps_a_result_with_backticks_inside_its_code_block() -> None:
    chat = {
        "session": {"title": "Code", "created_at": "2025-03-01T10:00:00+00:00"},
        "exported_at": "2025-03-01T10:05:00+00:00",
        "messages": [{
            "role": "assistant", "created_at": "2025-03-01T10:01:00+00:00", "stopped": False, "citations": [], "versions": [],
            "content": "Done.",
            "steps": [{"call_id": "c1", "name": "read_file", "server": "files", "arguments": "not json", "ok": None,
                       "result": None, "error": None, "duration_ms": None}],
        }],
    }  # fmt: skip
    assert export.markdown(chat).split("\n")[6:14] == [
        "**Step 1: read_file** (files) · not finished", "", "Arguments:", "", "```json", "not json", "```", "",
    ]
    chat["messages"][0]["steps"][0] |= {"ok": True, "result": "a ```` fence", "duration_ms": 2500}
    assert "**Step 1: read_file** (files) · ok · 2.5 s" in export.markdown(chat)
    assert "\n`````text\na ```` fence\n`````\n" in export.markdown(chat)


async def test_another_members_chat_is_404_to_every_new_route_and_absent_from_search(api, gateway) -> None:
    ann, bob = await _member(api, gateway, "ann"), await _member(api, gateway, "bob")
    async with ann, bob:
        chat = (await ann.post("/v1/sessions", json={"title": "Ann's zanzibar plans"})).json()
        user = (await ann.post(f"/v1/sessions/{chat['id']}/messages", json={"content": "hello"})).json()
        path = f"/v1/sessions/{chat['id']}"
        for method, url, body in (
            ("PATCH", path, {"title": "mine"}), ("DELETE", path, None), ("GET", f"{path}/export", None),
            ("POST", f"{path}/stop", None), ("POST", f"{path}/regenerate", None),
            ("POST", f"{path}/approvals/m{user['id']}g1s1c0", {"allow": True}),
            ("PATCH", f"{path}/messages/{user['id']}", {"content": "changed"}),
        ):  # fmt: skip
            response = await bob.request(method, url, json=body)
            assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), (method, url)
        assert (await bob.get("/v1/sessions", params={"query": "zanzibar"})).json() == {"sessions": []}
        assert [s["id"] for s in (await ann.get("/v1/sessions", params={"query": "zanzibar"})).json()["sessions"]] == [chat["id"]]
        assert (await ann.get(path)).json()["title"] == "Ann's zanzibar plans"


async def test_a_chat_takes_the_profile_named_or_assistant_and_shows_its_place_in_the_tree(api) -> None:
    plain = await api.post("/v1/sessions", json={"title": "Plain"})
    coder = await api.post("/v1/sessions", json={"title": "Code", "profile": "coder"})

    assert (plain.status_code, coder.status_code) == (201, 201)
    shape = {"profile": "assistant", "parent_session_id": None, "depth": 0}
    assert {k: plain.json()[k] for k in shape} == shape
    assert {k: coder.json()[k] for k in shape} == {**shape, "profile": "coder"}
    assert (await api.get(f"/v1/sessions/{coder.json()['id']}")).json() == coder.json()


@pytest.mark.parametrize("name", ["ghost", ""])
async def test_an_unknown_profile_is_422_naming_it_and_makes_no_chat(api, name) -> None:
    response = await api.post("/v1/sessions", json={"title": "Ghostly", "profile": name})

    assert (response.status_code, response.json()["error"]) == (422, {
        "code": "unknown_profile",
        "message": f"'profile': no agent profile is named {name!r}. No agent profile has this name, so nothing was made. "
        "Name one that `GET /v1/profiles` lists, or leave `profile` out for the default.",
    })  # fmt: skip
    assert (await api.get("/v1/sessions")).json() == {"sessions": []}


async def test_without_the_assistant_profile_a_new_chat_runs_on_the_settings_alone(api) -> None:
    assert (await api.delete("/v1/profiles/assistant")).status_code == 204
    assert (await api.post("/v1/sessions", json={})).json()["profile"] is None


async def test_the_chat_list_and_its_search_leave_child_chats_out_but_the_child_is_fetched_with_its_parent(api, database_url) -> None:
    parent = (await api.post("/v1/sessions", json={"title": "Lisbon trip"})).json()
    with psycopg.connect(database_url) as conn:
        child_id = conn.execute(
            "INSERT INTO chat_sessions (title, profile, parent_session_id, parent_call_id, depth, owner)"
            " SELECT 'Lisbon hotels', 'researcher', id, 'm1g1s1c0', 1, owner FROM chat_sessions RETURNING id::text"
        ).fetchone()[0]

    assert (await api.get("/v1/sessions")).json() == {"sessions": [parent]}
    assert (await api.get("/v1/sessions", params={"query": "Lisbon"})).json() == {"sessions": [parent]}
    child = (await api.get(f"/v1/sessions/{child_id}")).json()
    assert (child["title"], child["profile"], child["parent_session_id"], child["depth"]) == ("Lisbon hotels", "researcher", parent["id"], 1)
