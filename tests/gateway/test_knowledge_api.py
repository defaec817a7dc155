"""The knowledge API in-process: upload, dedupe, limits, ingestion states, download and delete; bytes in PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from soma.db import engine as db_engine
from soma.embeddings import embedder
from soma.knowledge import blobs, ingest
from tests.conftest import ADMIN_KEY, EMBEDDER
from tests.knowledge import samples, uploads

UNKNOWN = "00000000-0000-0000-0000-000000000000"
SUPPORTED = (
    "Soma reads text (.txt), Markdown (.md), HTML (.html), PDF (.pdf), CSV (.csv) and JSON (.json) files. "
    "Convert the file to one of these types and upload it again."
)
GUIDE = b"""# Garden guide

Tomatoes need six hours of direct sun and deep watering twice a week.

## Pests

Aphids on the roses are washed off with a jet of water; ladybirds eat the rest.
"""


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database, for running ingestion jobs the way the worker does."""
    created = db_engine.create(database_url, pool_size=2)
    yield created
    await created.dispose()


def _rows(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def _blobs(database_url: str) -> list[tuple[str, int, int]]:
    """Every stored content: its sha256, size and number of pieces."""
    return _rows(
        database_url,
        "SELECT b.sha256, b.size_bytes, count(p.ordinal)::int FROM knowledge_blobs b"
        " LEFT JOIN knowledge_blob_pieces p USING (sha256) GROUP BY b.sha256 ORDER BY b.sha256",
    )


def _stored(database_url: str, sha256: str) -> bytes:
    """The bytes stored for a content, pieces joined in order."""
    pieces = _rows(database_url, f"SELECT data FROM knowledge_blob_pieces WHERE sha256 = '{sha256}' ORDER BY ordinal")
    return b"".join(piece for (piece,) in pieces)


async def _upload(api, name: str, data: bytes, content_type: str = "application/octet-stream"):
    return await api.post("/v1/knowledge", files={"file": (name, data, content_type)})


async def _set_limit(api, max_bytes: int) -> None:
    response = await api.put("/v1/settings", json={"upload_max_bytes": max_bytes})
    assert response.status_code == 200, response.text


async def test_an_upload_is_stored_by_content_and_queued_in_one_go(api, database_url) -> None:
    response = await _upload(api, "garden.md", GUIDE, "text/markdown")

    assert response.status_code == 202
    document = response.json()
    sha = hashlib.sha256(GUIDE).hexdigest()
    assert document == {
        "id": document["id"],
        "filename": "garden.md",
        "content_type": "text/markdown",
        "size_bytes": len(GUIDE),
        "sha256": sha,
        "state": "pending",
        "error": None,
        "chunk_count": 0,
        "created_at": document["created_at"],
        "updated_at": document["updated_at"],
    }
    assert _blobs(database_url) == [(sha, len(GUIDE), 1)]
    assert _stored(database_url, sha) == GUIDE
    jobs = _rows(database_url, "SELECT queue_name, task_name, lock, args, status FROM procrastinate_jobs")
    assert jobs == [("knowledge", "soma.knowledge.ingest", f"knowledge:{document['id']}", {"document_id": document["id"]}, "todo")]
    assert (await api.get(f"/v1/knowledge/{document['id']}")).json() == document


async def test_ingestion_indexes_the_chunks_and_marks_the_document_ready(api, engine, database_url) -> None:
    document = (await _upload(api, "garden.md", GUIDE)).json()

    outcome = await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"]))

    assert outcome == "ready"
    ready = (await api.get(f"/v1/knowledge/{document['id']}")).json()
    assert (ready["state"], ready["error"], ready["chunk_count"]) == ("ready", None, 1)
    chunks = _rows(database_url, "SELECT ordinal, content, embedding_model, vector_dims(embedding) FROM knowledge_chunks")
    assert chunks == [(0, GUIDE.decode().strip(), embedder.MODEL_ID, 384)]
    assert await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"])) == "skipped"


async def test_the_same_content_uploaded_twice_is_one_document(api, database_url) -> None:
    first = await _upload(api, "garden.md", GUIDE)
    second = await _upload(api, "copy of garden.md", GUIDE)

    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == first.json()
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(1,)]
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs") == [(1,)]
    assert _blobs(database_url) == [(first.json()["sha256"], len(GUIDE), 1)]


async def test_the_same_content_uploaded_at_once_is_still_one_document(api, database_url) -> None:
    responses = await asyncio.gather(*(_upload(api, f"garden-{n}.md", GUIDE) for n in range(4)))

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(1,)]
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs") == [(1,)]
    assert _blobs(database_url) == [(responses[0].json()["sha256"], len(GUIDE), 1)]


async def test_an_upload_over_the_limit_is_413_and_leaves_nothing(api, database_url) -> None:
    await _set_limit(api, 1000)

    response = await _upload(api, "big.txt", b"x" * 1001, "text/plain")

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "file_too_large",
            "message": "The file is over the 1000-byte limit set by upload_max_bytes. "
            "Upload a smaller file, or raise the `upload_max_bytes` setting with PUT /v1/settings.",
        }
    }
    assert _blobs(database_url) == []
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(0,)]
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs") == [(0,)]


async def test_an_upload_at_the_limit_is_accepted(api) -> None:
    await _set_limit(api, 1000)
    response = await _upload(api, "exact.txt", b"y" * 1000, "text/plain")
    assert response.status_code == 202
    assert response.json()["size_bytes"] == 1000


async def test_a_streamed_upload_without_a_length_is_cut_off_at_the_limit(api, database_url) -> None:
    await _set_limit(api, 1000)
    boundary = "soma-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="stream.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(100):  # 100 KiB in all, unless the gateway stops reading
            sent.append(1)
            yield b"z" * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.post(
        "/v1/knowledge", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert len(sent) < 100
    assert _blobs(database_url) == []
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(0,)]


async def test_a_body_too_long_for_any_file_within_the_limit_is_413_before_it_is_read(api, database_url) -> None:
    await _set_limit(api, 1000)
    data = b"x" * (1000 + 70 * 1024)

    response = await _upload(api, "huge.txt", data, "text/plain")

    assert response.status_code == 413
    length = int(response.request.headers["content-length"])
    assert response.json()["error"] == {
        "code": "file_too_large",
        "message": f"The request has {length} bytes, more than a file within the 1000-byte limit set by "
        "upload_max_bytes needs. Upload a smaller file, or raise the `upload_max_bytes` setting with PUT /v1/settings.",
    }
    assert _blobs(database_url) == []


async def test_a_file_larger_than_any_chat_message_body_is_accepted(api) -> None:
    data = b"word " * 60_000  # 300 KB: above the gateway's limit for JSON bodies

    response = await _upload(api, "long.txt", data, "text/plain")

    assert response.status_code == 202
    assert response.json()["size_bytes"] == len(data)


async def test_an_unsupported_type_is_415_and_stores_nothing(api, database_url) -> None:
    response = await _upload(api, "report.docx", b"PK\x03\x04", "application/vnd.openxmlformats")

    assert response.status_code == 415
    assert response.json() == {
        "error": {
            "code": "unsupported_file_type",
            "message": f"'report.docx' (application/vnd.openxmlformats) is not a type Soma reads. {SUPPORTED}",
        }
    }
    assert _blobs(database_url) == []
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(0,)]


async def test_an_upload_without_the_file_field_is_422(api, database_url) -> None:
    response = await api.post("/v1/knowledge", data={"note": "no file"}, files={"other": ("a.txt", b"hi", "text/plain")})

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "invalid_request",
            "message": "The request is not valid: file: Field required. Fix the request and send it again.",
        }
    }
    assert _blobs(database_url) == []


async def test_an_upload_with_two_files_is_422(api, database_url) -> None:
    files = [("file", ("a.txt", b"one", "text/plain")), ("file", ("b.txt", b"two", "text/plain"))]

    response = await api.post("/v1/knowledge", files=files)

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "The request is not valid: file: send one file per request. Fix the request and send it again."
    )
    assert _blobs(database_url) == []


async def test_an_upload_that_is_not_multipart_is_422(api) -> None:
    response = await api.post("/v1/knowledge", json={"file": "notes"})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "The request is not valid: body: send the file as multipart/form-data, in the field 'file'. "
        "Fix the request and send it again."
    )


async def test_an_uploaded_path_keeps_only_its_file_name(api) -> None:
    response = await _upload(api, "../../etc/notes.txt", b"notes", "text/plain")
    assert response.json()["filename"] == "notes.txt"


async def test_a_corrupt_pdf_ends_failed_with_the_reason_and_no_chunks(api, engine, database_url) -> None:
    document = (await _upload(api, "broken.pdf", samples.corrupt_pdf(), "application/pdf")).json()

    outcome = await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"]))

    assert outcome == "failed"
    failed = (await api.get(f"/v1/knowledge/{document['id']}")).json()
    assert (failed["state"], failed["chunk_count"]) == ("failed", 0)
    assert failed["error"] == (
        "The PDF cannot be read; it is damaged or not a PDF (Stream has ended unexpectedly). "
        "Delete this document, fix or convert the file, and upload it again."
    )
    assert _rows(database_url, "SELECT count(*) FROM knowledge_chunks") == [(0,)]


async def test_a_pdf_is_indexed_page_by_page(api, engine, database_url) -> None:
    pdf = samples.text_pdf("Invoices are paid within thirty days.", "Refunds take five working days.")
    document = (await _upload(api, "terms.pdf", pdf)).json()
    assert document["content_type"] == "application/pdf"

    assert await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"])) == "ready"

    chunks = _rows(database_url, "SELECT content FROM knowledge_chunks ORDER BY ordinal")
    assert chunks == [("Invoices are paid within thirty days.\n\nRefunds take five working days.",)]


async def test_a_file_of_several_pieces_is_stored_in_order_and_downloads_byte_for_byte(api, engine, database_url) -> None:
    data = bytes(range(256)) * (blobs.PIECE_BYTES * 5 // 2 // 256)  # two and a half pieces

    document = (await _upload(api, "bytes.txt", data, "text/plain")).json()
    response = await api.get(f"/v1/knowledge/{document['id']}/content")

    assert _blobs(database_url) == [(hashlib.sha256(data).hexdigest(), len(data), 3)]
    assert _rows(database_url, "SELECT ordinal, length(data) FROM knowledge_blob_pieces ORDER BY ordinal") == [
        (0, blobs.PIECE_BYTES), (1, blobs.PIECE_BYTES), (2, blobs.PIECE_BYTES // 2)
    ]
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(data))
    assert response.content == data


async def test_an_upload_cut_off_mid_stream_leaves_no_rows(gateway: FastAPI, database_url) -> None:
    """The client goes away after 600 KiB of a file: the pieces already written roll back with the rest."""
    boundary = "soma-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    body = [head] + [b"c" * (200 * 1024)] * 3
    writing: list[int] = []

    async def receive() -> dict:
        if body:
            return {"type": "http.request", "body": body.pop(0), "more_body": True}
        writing.append(uploads.pieces_being_written(database_url))
        return {"type": "http.disconnect"}  # what a server passes on when the client's connection drops

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
        "path": "/v1/knowledge", "raw_path": b"/v1/knowledge", "query_string": b"", "root_path": "",
        "headers": [
            (b"host", b"soma.test"),
            (b"authorization", f"Bearer {ADMIN_KEY}".encode()),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
        ],
        "client": ("127.0.0.1", 50000), "server": ("soma.test", 443),
    }

    await gateway(scope, receive, send)

    assert sent[0] == {"type": "http.response.start", "status": 400, "headers": sent[0]["headers"]}
    assert json.loads(sent[1]["body"]) == {
        "error": {
            "code": "upload_cut_off",
            "message": f"The connection closed after {600 * 1024} bytes of the file. The upload stopped before the "
            "whole file arrived, so nothing of it was stored. Upload the file again.",
        }
    }
    assert writing == [1]  # two pieces were in the database, uncommitted, when the client went away
    assert uploads.pieces_being_written(database_url) == 0
    assert _blobs(database_url) == []
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(0,)]
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs") == [(0,)]


async def test_documents_are_listed_newest_first(api) -> None:
    first = (await _upload(api, "a.txt", b"first", "text/plain")).json()
    second = (await _upload(api, "b.json", b'{"b": 2}')).json()

    assert (await api.get("/v1/knowledge")).json() == {"documents": [second, first]}


async def test_an_unknown_document_is_404(api) -> None:
    for method, path in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
        response = await api.request(method, f"/v1/knowledge/{UNKNOWN}{path}")
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "code": "not_found",
                "message": f"Document '{UNKNOWN}' does not exist. No knowledge document has this id. "
                "List documents with GET /v1/knowledge.",
            }
        }


async def test_the_original_file_downloads_under_its_name(api) -> None:
    document = (await _upload(api, "garden guide.md", GUIDE)).json()

    response = await api.get(f"/v1/knowledge/{document['id']}/content")

    assert response.status_code == 200
    assert response.content == GUIDE
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"] == "attachment; filename*=utf-8''garden%20guide.md"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_delete_removes_the_document_its_chunks_and_its_bytes(api, engine, database_url) -> None:
    document = (await _upload(api, "garden.md", GUIDE)).json()
    await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"]))
    assert _rows(database_url, "SELECT count(*) FROM knowledge_chunks") == [(1,)]

    response = await api.delete(f"/v1/knowledge/{document['id']}")

    assert (response.status_code, response.content) == (204, b"")
    assert _rows(database_url, "SELECT count(*) FROM knowledge_chunks") == [(0,)]
    assert _rows(database_url, "SELECT count(*) FROM knowledge_documents") == [(0,)]
    assert _blobs(database_url) == []
    assert (await api.get(f"/v1/knowledge/{document['id']}")).status_code == 404
    again = await _upload(api, "garden.md", GUIDE)
    assert again.status_code == 202 and again.json()["id"] != document["id"]


async def test_a_document_deleted_before_its_job_runs_is_skipped(api, engine) -> None:
    document = (await _upload(api, "garden.md", GUIDE)).json()
    await api.delete(f"/v1/knowledge/{document['id']}")

    assert await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"])) == "skipped"
