"""Knowledge files through real processes: upload to a gateway, index in a worker, cited in a turn."""

from __future__ import annotations

import signal
import socket

import httpx
import psycopg

from tests import procs
from tests.conftest import ADMIN
from tests.knowledge import samples, uploads
from tests.procs import has_event

WATERING = (
    "Tomatoes need deep watering twice a week, early in the morning, so the leaves dry before the sun is high. "
    "Water the soil rather than the plant, about ten litres for each plant, and more during a heat wave. "
    "A layer of straw mulch keeps the moisture in the ground and stops the soil from splashing onto the leaves. "
    "Uneven watering splits the fruit and causes blossom end rot, so keep to a regular schedule all summer long. "
    "Rain barrels filled from the shed roof give soft water at the temperature of the air, which the roots prefer. "
    "Check the soil with a finger before watering: if it is damp two centimetres down, wait another day."
)
PESTS = (
    "Aphids gather on the young shoots of the roses every spring and suck the sap until the buds wilt. "
    "Wash them off with a strong jet of water from the hose, or rub them away between finger and thumb. "
    "Ladybirds and lacewings eat whatever aphids remain, so never spray insecticide that would kill them too. "
    "Slugs come out on damp evenings and eat the lettuces down to the stalk; collect them with a torch after dark. "
    "Copper tape around the pots keeps snails away, and a saucer of beer sunk in the bed catches many more. "
    "Netting over the cabbages stops the white butterflies from laying the eggs that become caterpillars."
)
GUIDE = f"# Garden guide\n\n## Watering\n\n{WATERING}\n\n## Pests\n\n{PESTS}\n".encode()
PARKING = "Visitors to the office park in bay seven behind the library.\nParking permits are issued at reception."


def _rows(database_url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


def _blobs(database_url: str) -> list[str]:
    """The sha256 of every stored content."""
    return [sha for (sha,) in _rows(database_url, "SELECT sha256 FROM knowledge_blobs ORDER BY sha256")]


def _upload(client: httpx.Client, url: str, name: str, data: bytes) -> httpx.Response:
    return client.post(f"{url}/v1/knowledge", files={"file": (name, data)})


def _settled(client: httpx.Client, url: str, document_id: str) -> dict:
    """The document once it is ready or failed."""

    def done() -> dict | None:
        document = client.get(f"{url}/v1/knowledge/{document_id}").json()
        return document if document["state"] in ("ready", "failed") else None

    return procs.wait_until(done, 180, f"document {document_id} to be indexed", interval=0.5)


def _start(stack, data_dir) -> None:
    """A worker and a gateway, each with a SOMA_DATA_DIR of its own: they share nothing but the database."""
    stack.worker(data_dir=data_dir / "worker")
    stack.url, _ = stack.gateway(data_dir=data_dir / "gateway")


def _ask(stack, question: str) -> tuple[dict, str]:
    """The assistant's stored answer to a question in a new session, and the system prompt the SLM got."""
    session = stack.new_session()
    stack.send(session, question)
    stack.events(session, has_event("assistant.message"), timeout=120)
    answer = stack.messages(session)[-1]
    [system] = [m["content"] for m in stack.slm.requests()[-1]["body"]["messages"] if m["role"] == "system"]
    return answer, system


def test_markdown_and_pdf_files_are_indexed_and_the_right_chunk_is_cited(stack, tmp_path) -> None:
    _start(stack, tmp_path)
    assert stack.client.put(f"{stack.url}/v1/settings", json={"knowledge_k": 1}).status_code == 200
    guide = _upload(stack.client, stack.url, "garden.md", GUIDE).json()
    terms = _upload(stack.client, stack.url, "office.pdf", samples.text_pdf(PARKING)).json()

    assert _settled(stack.client, stack.url, guide["id"])["state"] == "ready"
    assert _settled(stack.client, stack.url, terms["id"])["state"] == "ready"
    chunks = _rows(
        stack.database_url,
        "SELECT d.filename, c.id, c.ordinal, c.content FROM knowledge_chunks c"
        " JOIN knowledge_documents d ON d.id = c.document_id ORDER BY d.filename, c.ordinal",
    )
    [watering] = [c for c in chunks if "twice a week" in c[3]]
    [parking] = [c for c in chunks if c[0] == "office.pdf"]
    assert len(chunks) == 3  # the guide's two sections, and the one-page PDF

    answer, system = _ask(stack, "How often should I water my tomatoes?")

    assert watering[3] in system
    assert answer["citations"] == [
        {"n": 1, "document_id": guide["id"], "filename": "garden.md", "chunk_id": watering[1], "ordinal": watering[2]}
    ]

    answer, system = _ask(stack, "Where can visitors park their car at the office?")

    assert parking[3] == "Visitors to the office park in bay seven behind the library.\nParking permits are issued at reception."
    assert parking[3] in system
    assert answer["citations"] == [
        {"n": 1, "document_id": terms["id"], "filename": "office.pdf", "chunk_id": parking[1], "ordinal": 0}
    ]


def test_files_that_fail_or_repeat_or_are_too_large_or_deleted_leave_nothing_behind(stack, tmp_path) -> None:
    _start(stack, tmp_path)
    broken = _upload(stack.client, stack.url, "broken.pdf", samples.corrupt_pdf())
    assert broken.status_code == 202

    failed = _settled(stack.client, stack.url, broken.json()["id"])

    assert (failed["state"], failed["chunk_count"]) == ("failed", 0)
    assert failed["error"] == (
        "The PDF cannot be read; it is damaged or not a PDF (Stream has ended unexpectedly). "
        "Delete this document, fix or convert the file, and upload it again."
    )
    assert _rows(stack.database_url, "SELECT count(*) FROM knowledge_chunks") == [(0,)]

    first = _upload(stack.client, stack.url, "garden.md", GUIDE)
    second = _upload(stack.client, stack.url, "garden-copy.md", GUIDE)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]
    guide = _settled(stack.client, stack.url, first.json()["id"])
    assert guide["state"] == "ready"
    listed = stack.client.get(f"{stack.url}/v1/knowledge").json()["documents"]
    assert [d["filename"] for d in listed] == ["garden.md", "broken.pdf"]
    stored = _blobs(stack.database_url)
    assert stored == sorted([guide["sha256"], failed["sha256"]])

    assert stack.client.put(f"{stack.url}/v1/settings", json={"upload_max_bytes": 2048}).status_code == 200
    too_large = _upload(stack.client, stack.url, "big.md", b"# Big\n\n" + b"words " * 1000)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "file_too_large"
    assert _blobs(stack.database_url) == stored
    assert len(stack.client.get(f"{stack.url}/v1/knowledge").json()["documents"]) == 2

    deleted = stack.client.delete(f"{stack.url}/v1/knowledge/{guide['id']}")

    assert deleted.status_code == 204
    assert _rows(stack.database_url, "SELECT count(*) FROM knowledge_chunks WHERE document_id = %s", guide["id"]) == [(0,)]
    assert _rows(stack.database_url, "SELECT count(*) FROM knowledge_chunks") == [(0,)]
    assert _blobs(stack.database_url) == [failed["sha256"]]
    assert stack.client.get(f"{stack.url}/v1/knowledge/{guide['id']}/content").status_code == 404


def test_a_gateway_killed_mid_upload_leaves_no_bytes_and_no_document(stack) -> None:
    url, gateway = stack.gateway()
    host, port = url.removeprefix("http://").split(":")
    boundary = "soma-test-boundary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    length = len(part) + 4 * 1024 * 1024  # the rest never comes
    head = (
        f"POST /v1/knowledge HTTP/1.1\r\nHost: {host}\r\nAuthorization: {ADMIN['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()

    with socket.create_connection((host, int(port))) as client:
        client.sendall(head + part + b"k" * (1024 * 1024))
        procs.wait_until(lambda: uploads.pieces_being_written(stack.database_url) == 1, 30, "the upload's pieces to be written")
        gateway.signal(signal.SIGKILL)
        gateway.wait(10)

    procs.wait_until(lambda: uploads.pieces_being_written(stack.database_url) == 0, 30, "PostgreSQL to end the dead upload")
    assert _blobs(stack.database_url) == []
    assert _rows(stack.database_url, "SELECT count(*) FROM knowledge_documents") == [(0,)]
    assert _rows(stack.database_url, "SELECT count(*) FROM procrastinate_jobs") == [(0,)]
