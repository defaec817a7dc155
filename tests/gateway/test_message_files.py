"""Files sent with a message (multipart/form-data): they land in the chat's files with the message, or nothing lands; limits are 413s naming them."""

from __future__ import annotations

import hashlib
import json

import httpx
import psycopg
import pytest

from soma.workspaces import attachments
from tests.conftest import ADMIN, client_of
from tests.knowledge import samples

MiB = 1024 * 1024
CSV = b"month,total\njanuary,20\nfebruary,35\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
PDF = samples.text_pdf("Quarterly report: sales rose in March.")


def _counts(database_url: str) -> tuple[int, int, int, int]:
    """Messages, events, queued jobs and workspace files: all zero after a refused post."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM session_events),"
            " (SELECT count(*) FROM procrastinate_jobs), (SELECT count(*) FROM workspace_files)"
        ).fetchone()


async def _chat(client: httpx.AsyncClient) -> str:
    return (await client.post("/v1/sessions", json={})).json()["id"]


async def _post(client: httpx.AsyncClient, chat: str, content: str | None, *files: tuple[str, bytes, str]) -> httpx.Response:
    data = {} if content is None else {"content": content}
    return await client.post(f"/v1/sessions/{chat}/messages", data=data, files=[("files", file) for file in files])


async def test_a_message_with_a_csv_a_pdf_and_a_binary_file_stores_all_three_and_queues_one_turn(api, database_url) -> None:
    chat = await _chat(api)

    response = await _post(api, chat, "What do these say?", ("sales.csv", CSV, "text/csv"), ("report.pdf", PDF, "application/pdf"),
                           ("chart.png", PNG, "image/png"))  # fmt: skip

    assert response.status_code == 202, response.text
    message = response.json()
    assert message["content"] == "What do these say?"
    assert message["meta"]["attachments"] == [
        {"path": "sales.csv", "size": len(CSV), "sha256": hashlib.sha256(CSV).hexdigest(), "type": "text", "excerpt": CSV.decode(), "cut": False, "note": None},
        {"path": "report.pdf", "size": len(PDF), "sha256": hashlib.sha256(PDF).hexdigest(), "type": "pdf",
         "excerpt": "Quarterly report: sales rose in March.", "cut": False, "note": None},
        {"path": "chart.png", "size": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest(), "type": "file", "excerpt": None, "cut": False, "note": None},
    ]  # fmt: skip
    listed = (await api.get(f"/v1/sessions/{chat}/files")).json()["files"]
    assert [(f["path"], f["size"], f["sha256"]) for f in listed] == [
        ("chart.png", len(PNG), hashlib.sha256(PNG).hexdigest()),
        ("report.pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("sales.csv", len(CSV), hashlib.sha256(CSV).hexdigest()),
    ]
    for path, data in (("sales.csv", CSV), ("report.pdf", PDF), ("chart.png", PNG)):
        assert (await api.get(f"/v1/sessions/{chat}/files/{path}")).content == data
    assert _counts(database_url) == (1, 1, 1, 3)
    events = (await api.get(f"/v1/sessions/{chat}/messages")).json()["messages"]
    assert events == [message]


async def test_a_message_of_files_alone_is_titled_by_their_names(api) -> None:
    chat = await _chat(api)

    response = await _post(api, chat, None, ("sales.csv", CSV, "text/csv"), ("notes.md", b"# n", "text/markdown"))

    assert response.status_code == 202 and response.json()["content"] == ""
    assert (await api.get(f"/v1/sessions/{chat}")).json()["title"] == "sales.csv, notes.md"


async def test_a_file_over_the_per_file_limit_is_413_naming_it_and_nothing_is_stored(api, database_url) -> None:
    chat = await _chat(api)
    big = b"x" * (attachments.MAX_FILE_BYTES + 1)

    response = await _post(api, chat, "two files", ("sales.csv", CSV, "text/csv"), ("huge.bin", big, "application/octet-stream"))

    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "attachment_too_large",
        "message": f"The file 'huge.bin' has {len(big)} bytes; at most {attachments.MAX_FILE_BYTES} are allowed. "
        "A file attached to a message holds at most 25 MiB. Attach a smaller file, or split it over several messages.",
    }
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_a_body_past_the_per_message_limit_is_413_before_it_is_read(api, gateway, database_url) -> None:
    chat = await _chat(api)
    part = b"x" * (20 * MiB)

    response = await _post(api, chat, "three", *((f"{n}.bin", part, "application/octet-stream") for n in range(3)))

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "attachments_too_large"
    assert error["message"].startswith(f"The request body has {response.request.headers['content-length']} bytes; the limit is ")
    assert error["message"].endswith("The files attached to one message hold at most 50 MiB together. Attach fewer files, and send the rest with the next message.")
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_a_chunked_body_past_the_per_message_limit_is_413_as_it_arrives(api, gateway, database_url) -> None:
    chat = await _chat(api)
    boundary = "soma-test-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="flood.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'

    async def body():
        yield head.encode()
        for _ in range(60):
            yield b"x" * MiB
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.post(f"/v1/sessions/{chat}/messages", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert (response.status_code, response.json()["error"]["code"]) == (413, "attachments_too_large")
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_files_past_the_chats_quota_are_413_workspace_full_and_nothing_is_stored(api, database_url) -> None:
    chat = await _chat(api)
    assert (await api.put("/v1/settings", json={"workspace_max_mb": 1})).status_code == 200

    response = await _post(api, chat, "too much", ("a.bin", b"a" * MiB, "application/octet-stream"), ("b.bin", b"b", "application/octet-stream"))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "workspace_full"
    assert response.json()["error"]["message"].startswith(
        f"Writing 'a.bin', 'b.bin' would make the chat's files {MiB + 1} bytes; the limit is {MiB} bytes (1 MiB). A chat's files may hold"
    )
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_more_files_than_a_message_carries_is_413_and_nothing_is_stored(api, database_url) -> None:
    chat = await _chat(api)

    files = [(f"{n}.txt", b"x", "text/plain") for n in range(attachments.MAX_FILES + 1)]
    response = await _post(api, chat, "many", *files)

    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_many_attachments")
    assert response.json()["error"]["message"].startswith(f"The message carries {attachments.MAX_FILES + 1} files; at most {attachments.MAX_FILES} are allowed.")
    assert _counts(database_url) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("name", "code"),
    [("../../x", "invalid_path"), ("/etc/passwd", "invalid_path"), ("a\x1b[2Jb.txt", "invalid_path"), ("..", "invalid_path"), ("", "invalid_request")],
)
async def test_a_hostile_file_name_is_422_and_nothing_is_stored(api, database_url, name: str, code: str) -> None:
    chat = await _chat(api)

    response = await _post(api, chat, "hostile", ("fine.txt", b"ok", "text/plain"), (name, b"escape", "text/plain"))

    assert (response.status_code, response.json()["error"]["code"]) == (422, code), response.text
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_two_files_of_one_name_are_422(api, database_url) -> None:
    chat = await _chat(api)

    response = await _post(api, chat, "twice", ("a.txt", b"1", "text/plain"), ("a.txt", b"2", "text/plain"))

    assert (response.status_code, response.json()["error"]["code"]) == (422, "duplicate_attachment")
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_another_members_chat_is_404_and_gets_no_files(api, gateway, database_url) -> None:
    keys = [(await api.post("/v1/keys", json={"name": name, "scopes": ["chat"]})).json()["key"] for name in ("ann", "bob")]
    async with client_of(gateway, {"Authorization": f"Bearer {keys[0]}"}) as ann, client_of(gateway, {"Authorization": f"Bearer {keys[1]}"}) as bob:
        chat = await _chat(ann)
        response = await _post(bob, chat, "mine now", ("planted.txt", b"x", "text/plain"))

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert _counts(database_url) == (0, 0, 0, 0)


def _form(fields: dict[str, str], boundary: str = "soma-form") -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of text fields only (httpx sends those url-encoded), and its content type."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), {"content-type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"content": "   "}, "content: Value error, content must not be empty"),
        ({}, "content: Field required"),
        ({"content": "a\x00b"}, "content: Value error, text must not contain NUL"),
    ],
)
async def test_a_multipart_message_without_files_needs_text_as_json_does(api, database_url, fields, problem) -> None:
    chat = await _chat(api)
    body, headers = _form(fields)

    response = await api.post(f"/v1/sessions/{chat}/messages", content=body, headers=headers)

    assert response.status_code == 422, response.text
    assert problem in response.json()["error"]["message"]
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_a_message_with_files_still_refuses_a_nul_in_its_text(api, database_url) -> None:
    chat = await _chat(api)

    response = await _post(api, chat, "a\x00b", ("a.txt", b"x", "text/plain"))

    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")
    assert _counts(database_url) == (0, 0, 0, 0)


async def test_a_multipart_body_without_a_boundary_or_with_an_unknown_field_is_422(api) -> None:
    chat = await _chat(api)
    headers = {"content-type": "multipart/form-data"}

    no_boundary = await api.post(f"/v1/sessions/{chat}/messages", content=b"--x\r\n", headers=headers)
    unknown = await api.post(f"/v1/sessions/{chat}/messages", data={"content": "hi", "model": "x"}, files={"files": ("a.txt", b"a")})

    assert (no_boundary.status_code, no_boundary.json()["error"]["code"]) == (422, "invalid_request")
    assert "names no boundary" in no_boundary.json()["error"]["message"]
    assert (unknown.status_code, unknown.json()["error"]["message"]) == (
        422, "The request is not valid: model: Extra inputs are not permitted. Fix the request and send it again."
    )


async def test_a_chats_files_go_when_the_chat_is_deleted(api, database_url) -> None:
    chat = await _chat(api)
    await _post(api, chat, "keep these", ("sales.csv", CSV, "text/csv"))

    assert (await api.delete(f"/v1/sessions/{chat}")).status_code == 204

    assert _counts(database_url)[3] == 0


async def test_the_chats_export_lists_the_files_a_message_carried(api) -> None:
    chat = await _chat(api)
    await _post(api, chat, "Here is the data.", ("sales.csv", CSV, "text/csv"), ("odd `name`.txt", b"x", "text/plain"))

    markdown = (await api.get(f"/v1/sessions/{chat}/export")).text
    exported = (await api.get(f"/v1/sessions/{chat}/export", params={"format": "json"})).json()

    assert f"Here is the data.\n\nAttached:\n- `sales.csv` ({len(CSV)} bytes)\n- ``odd `name`.txt`` (1 bytes)\n" in markdown
    assert [f["path"] for f in exported["messages"][0]["meta"]["attachments"]] == ["sales.csv", "odd `name`.txt"]


async def test_a_message_whose_client_goes_away_mid_file_is_400_upload_cut_off_and_stores_nothing(api, gateway, database_url) -> None:
    chat = await _chat(api)
    boundary = "soma-test-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="cut.csv"\r\nContent-Type: text/csv\r\n\r\n'
    body = [head.encode(), b"c" * (200 * 1024), b"c" * (200 * 1024)]

    async def receive() -> dict:
        if body:
            return {"type": "http.request", "body": body.pop(0), "more_body": True}
        return {"type": "http.disconnect"}  # what a server passes on when the client's connection drops

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    path = f"/v1/sessions/{chat}/messages"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [
            (b"host", b"soma.test"), (b"authorization", ADMIN["Authorization"].encode()),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
        ],
        "client": ("127.0.0.1", 50000), "server": ("soma.test", 443),
    }  # fmt: skip

    await gateway(scope, receive, send)

    assert (sent[0]["status"], json.loads(sent[1]["body"])["error"]["code"]) == (400, "upload_cut_off")
    assert _counts(database_url) == (0, 0, 0, 0)
