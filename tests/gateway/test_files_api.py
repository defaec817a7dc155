"""A chat's files over the API: listed, downloaded with headers no browser runs, deleted; only by the chat's owner; any path a 4xx."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import psycopg
import pytest

from soma.workspaces import store
from tests.conftest import client_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<html><script>fetch('/v1/keys')</script></html>"
POLICY = "default-src 'none'; sandbox"
UNKNOWN = "00000000-0000-0000-0000-000000000000"


async def _chat(client: httpx.AsyncClient) -> str:
    return (await client.post("/v1/sessions", json={})).json()["id"]


async def _put(gateway, chat: str, files: dict[str, bytes]) -> None:
    async with gateway.state.engine.begin() as conn:
        await store.apply(conn, uuid.UUID(chat), files.items(), [], 100 * 1024 * 1024)


async def _member(api, gateway, name: str) -> httpx.AsyncClient:
    key = (await api.post("/v1/keys", json={"name": name, "scopes": ["chat"]})).json()["key"]
    return client_of(gateway, {"Authorization": f"Bearer {key}"})


async def test_the_listing_names_each_file_with_its_size_time_and_hash_by_path(api, gateway) -> None:
    chat = await _chat(api)
    await _put(gateway, chat, {"out/chart.png": PNG, "data.csv": b"a,b\n1,2\n"})

    response = await api.get(f"/v1/sessions/{chat}/files")

    assert response.status_code == 200
    files = response.json()["files"]
    assert files == [
        {"path": "data.csv", "size": 8, "modified_at": files[0]["modified_at"], "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest()},
        {"path": "out/chart.png", "size": len(PNG), "modified_at": files[1]["modified_at"], "sha256": hashlib.sha256(PNG).hexdigest()},
    ]


async def test_an_empty_chat_lists_no_files(api) -> None:
    chat = await _chat(api)
    assert (await api.get(f"/v1/sessions/{chat}/files")).json() == {"files": []}


@pytest.mark.parametrize(
    ("path", "data", "content_type", "disposition"),
    [
        ("data.csv", b"a,b\n1,2\n", "application/octet-stream", 'attachment; filename="data.csv"'),
        ("page.html", HTML, "application/octet-stream", 'attachment; filename="page.html"'),
        ("chart.svg", SVG, "application/octet-stream", 'attachment; filename="chart.svg"'),
        ("out/chart.png", PNG, "image/png", 'attachment; filename="chart.png"'),
        ("photo.jpg", JPEG, "image/jpeg", 'attachment; filename="photo.jpg"'),
        ("fake.png", HTML, "application/octet-stream", 'attachment; filename="fake.png"'),  # a name vouches for nothing
        ('sales "q1"; x.csv', b"x", "application/octet-stream", "attachment; filename*=utf-8''sales%20%22q1%22%3B%20x.csv"),
        ("données.txt", b"x", "application/octet-stream", "attachment; filename*=utf-8''donn%C3%A9es.txt"),
    ],
)
async def test_a_download_is_an_attachment_no_browser_runs(api, gateway, path, data, content_type, disposition) -> None:
    chat = await _chat(api)
    await _put(gateway, chat, {path: data})

    response = await api.get(f"/v1/sessions/{chat}/files/{path}")

    assert response.status_code == 200
    assert response.content == data
    assert {name: response.headers.get(name) for name in ("content-type", "content-disposition", "x-content-type-options", "content-security-policy", "content-length")} == {
        "content-type": content_type, "content-disposition": disposition, "x-content-type-options": "nosniff",
        "content-security-policy": POLICY, "content-length": str(len(data)),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "data", "content_type", "disposition"),
    [
        ("chart.png", PNG, "image/png", 'inline; filename="chart.png"'),
        ("photo.jpeg", JPEG, "image/jpeg", 'inline; filename="photo.jpeg"'),
        ("chart.svg", SVG, "application/octet-stream", 'attachment; filename="chart.svg"'),
        ("page.html", HTML, "application/octet-stream", 'attachment; filename="page.html"'),
    ],
)
async def test_only_a_png_or_jpeg_is_shown_inline_when_asked(api, gateway, path, data, content_type, disposition) -> None:
    chat = await _chat(api)
    await _put(gateway, chat, {path: data})

    response = await api.get(f"/v1/sessions/{chat}/files/{path}", params={"inline": "true"})

    assert response.status_code == 200 and response.content == data
    assert (response.headers["content-type"], response.headers["content-disposition"]) == (content_type, disposition)
    assert (response.headers["x-content-type-options"], response.headers["content-security-policy"]) == ("nosniff", POLICY)


async def test_a_large_file_downloads_whole(api, gateway) -> None:
    chat = await _chat(api)
    data = bytes(range(256)) * (3 * 4096 + 5)  # three pieces and a bit
    await _put(gateway, chat, {"big.bin": data})

    response = await api.get(f"/v1/sessions/{chat}/files/big.bin")

    assert (response.status_code, response.content) == (200, data)


async def test_an_empty_file_downloads_as_an_empty_attachment(api, gateway) -> None:
    chat = await _chat(api)
    await _put(gateway, chat, {"empty.txt": b""})

    response = await api.get(f"/v1/sessions/{chat}/files/empty.txt", params={"inline": "true"})

    assert (response.status_code, response.content, response.headers["content-length"]) == (200, b"", "0")
    assert response.headers["content-disposition"] == 'attachment; filename="empty.txt"'


async def test_delete_removes_the_file_and_a_second_delete_is_404(api, gateway, database_url) -> None:
    chat = await _chat(api)
    await _put(gateway, chat, {"out/a.txt": b"a", "b.txt": b"b"})

    deleted = await api.delete(f"/v1/sessions/{chat}/files/out/a.txt")
    again = await api.delete(f"/v1/sessions/{chat}/files/out/a.txt")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (again.status_code, again.json()["error"]) == (404, {
        "code": "workspace_file_not_found",
        "message": "No file is at 'out/a.txt'. The chat has no file at this path. List its files with GET /v1/sessions/{id}/files.",
    })  # fmt: skip
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT path FROM workspace_files").fetchall() == [("b.txt",)]


async def test_another_members_chat_files_are_404_to_list_download_and_delete(api, gateway, database_url) -> None:
    ann, bob = await _member(api, gateway, "ann"), await _member(api, gateway, "bob")
    async with ann, bob:
        chat = await _chat(ann)
        await _put(gateway, chat, {"secret.txt": b"ann's"})
        for method, path in (("GET", "files"), ("GET", "files/secret.txt"), ("DELETE", "files/secret.txt"), ("GET", "files/missing.txt")):
            response = await bob.request(method, f"/v1/sessions/{chat}/{path}")
            assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), (method, path)
        assert (await ann.get(f"/v1/sessions/{chat}/files/secret.txt")).content == b"ann's"
        assert (await api.get(f"/v1/sessions/{chat}/files/secret.txt")).content == b"ann's"  # admins see every chat
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT path FROM workspace_files").fetchall() == [("secret.txt",)]


async def test_an_unknown_chat_is_404(api) -> None:
    for method, path in (("GET", "files"), ("GET", "files/a.txt"), ("DELETE", "files/a.txt")):
        response = await api.request(method, f"/v1/sessions/{UNKNOWN}/{path}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


HOSTILE = [
    "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fx", "a/%2e%2e/%2e%2e/x", "%2fetc%2fshadow", "a%00b", "a%0ab", "%1b%5b31m", "a//b", "a/",
    "%ff%fe", "%ed%a0%80", "%c0%ae%c0%ae/x", "x" * 5000, "%2e", "%2e%2e", "a/" * 600 + "b", "\u202egnp.exe", "nul%00.png",
]


@pytest.mark.parametrize("path", HOSTILE, ids=range(len(HOSTILE)))
async def test_any_path_string_is_a_4xx_and_never_reaches_another_file(api, gateway, path: str) -> None:
    chat = await _chat(api)
    await _put(gateway, chat, {"kept.txt": b"kept"})

    for method in ("GET", "DELETE"):
        response = await api.request(method, f"/v1/sessions/{chat}/files/{path}")
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)
        # not_found: no route matches a path with a line break in it
        assert response.json()["error"]["code"] in ("invalid_path", "workspace_file_not_found", "not_found"), response.text
    assert (await api.get(f"/v1/sessions/{chat}/files")).json()["files"][0]["path"] == "kept.txt"


async def test_a_path_with_dot_dot_parts_is_422_naming_it(api) -> None:
    chat = await _chat(api)

    response = await api.get(f"/v1/sessions/{chat}/files/%2e%2e/%2e%2e/etc/passwd")

    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_path")
    assert response.json()["error"]["message"].startswith("The path '../../etc/passwd' has a '..' part. A file of a chat is named by")
