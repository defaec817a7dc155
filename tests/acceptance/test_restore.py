"""Restore through real processes: while a turn streams, effective for the next turn, and safe when the gateway dies mid-apply."""

from __future__ import annotations

import signal
import threading

import httpx
import psycopg

from tests import procs
from tests.conftest import ADMIN
from tests.procs import has_event

FACT = "The lighthouse keeper is called Ada Lovelace."
GUIDE = (
    "# Lighthouse manual\n\nThe lamp of the lighthouse is lit every evening at dusk and put out at dawn. "
    "The keeper winds the clockwork that turns the lens every four hours through the night. "
    "Fog signals sound every thirty seconds while the visibility is under one nautical mile.\n"
).encode()
SLOW_ANSWER = {"chunks": [f"word{n} " for n in range(12)], "delay": 0.4}  # about five seconds of streaming


def _rows(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def _prepare(stack) -> bytes:
    """A memory and an indexed knowledge file, backed up; then both deleted and the settings changed."""
    client, url = stack.client, stack.url
    memory = client.post(url + "/v1/memories", json={"content": FACT}, timeout=60)
    assert memory.status_code == 201, memory.text
    document = client.post(url + "/v1/knowledge", files={"file": ("lighthouse.md", GUIDE)}).json()
    procs.wait_until(lambda: client.get(f"{url}/v1/knowledge/{document['id']}").json()["state"] == "ready", 120, "indexing")
    assert client.put(url + "/v1/settings", json={"knowledge_k": 2}).status_code == 200
    backup = client.get(url + "/v1/backup")
    assert backup.status_code == 200
    assert client.delete(f"{url}/v1/memories/{memory.json()['id']}").status_code == 204
    assert client.delete(f"{url}/v1/knowledge/{document['id']}").status_code == 204
    assert client.put(url + "/v1/settings", json={"knowledge_k": 0, "memory_enabled": False}).status_code == 200
    return backup.content


def _stage(client: httpx.Client, url: str, archive: bytes) -> str:
    staged = client.post(url + "/v1/restores", files={"file": ("before.tar", archive)})
    assert staged.status_code == 201, staged.text
    return staged.json()["id"]


def test_a_restore_while_a_turn_streams_waits_for_it_tells_streams_to_reload_and_counts_at_once(stack) -> None:
    stack.worker()
    archive = _prepare(stack)
    restore_id = _stage(stack.client, stack.url, archive)
    session = stack.new_session()  # made after the backup: the restore removes it
    stack.slm.script(SLOW_ANSWER)
    stack.send(session, "Tell me a long story.")
    stack.events(session, has_event("assistant.delta"))  # the turn is streaming

    stream: list[dict] = []
    reading = threading.Thread(target=lambda: stream.extend(stack.events(session, has_event("restore.applied"), timeout=60)))
    reading.start()
    applied: list[httpx.Response] = []
    applying = threading.Thread(
        target=lambda: applied.append(stack.client.post(f"{stack.url}/v1/restores/{restore_id}/apply", json={"mode": "preserve_settings"}, timeout=60))
    )
    applying.start()

    # While it applies (waiting for the turn to finish), writes are refused with a reason and a time to retry.
    refused = procs.wait_until(lambda: (r := stack.client.post(stack.url + "/v1/sessions", json={})).status_code == 503 and r, 5, "the gate")
    assert refused.json()["error"]["code"] == "restore_in_progress" and refused.headers["retry-after"] == "5"
    applying.join(60)
    reading.join(60)
    assert applied[0].status_code == 200, applied[0].text
    kinds = [e["event"] for e in stream]
    assert "assistant.message" in kinds, kinds  # the running turn finished before the restore went ahead
    assert kinds[-1] == "restore.applied" and stream[-1]["data"] == {"restore_id": restore_id, "reload": True}
    assert stack.client.get(f"{stack.url}/v1/sessions/{session}").status_code == 404

    # The very next turn recalls the restored memory and cites the restored file; the settings were kept,
    # so memory is off: turn it on and the knowledge count back up, and ask.
    assert stack.client.put(stack.url + "/v1/settings", json={"memory_enabled": True, "knowledge_k": 2}).status_code == 200
    stack.slm.reset()
    asked = stack.new_session()
    stack.send(asked, "Who is the keeper of the lighthouse, and when is the lamp lit?")
    stack.events(asked, has_event("assistant.message"), timeout=60)
    reply = stack.messages(asked)[-1]
    [system] = [m["content"] for m in stack.slm.requests()[-1]["body"]["messages"] if m["role"] == "system"]
    assert FACT in system
    assert "lit every evening at dusk" in system
    assert [c["filename"] for c in reply["meta"]["citations"]][:1] == ["lighthouse.md"]
    assert len(reply["meta"]["memories"]) == 1


def test_a_gateway_killed_in_the_middle_of_an_apply_leaves_the_old_state_and_the_restore_staged(stack) -> None:
    stack.worker()
    archive = _prepare(stack)
    restore_id = _stage(stack.client, stack.url, archive)
    before = _rows(stack.database_url, "SELECT count(*) FROM memories UNION ALL SELECT count(*) FROM knowledge_documents")
    doomed_url, doomed = stack.gateway()
    with psycopg.connect(stack.database_url) as holder:
        # A reader holds the memories table, so the apply stops inside its transaction, gate shut.
        holder.execute("LOCK TABLE memories IN ACCESS SHARE MODE")
        client = httpx.Client(headers=ADMIN, timeout=60)
        threading.Thread(
            target=lambda: _ignore_errors(lambda: client.post(f"{doomed_url}/v1/restores/{restore_id}/apply", json={"mode": "overwrite"})),
            daemon=True,
        ).start()
        procs.wait_until(lambda: stack.client.post(stack.url + "/v1/sessions", json={}).status_code == 503, 10, "the apply to start")
        doomed.signal(signal.SIGKILL)
        doomed.wait(10)
    # The holder let go: the dead gateway's transaction ends without committing anything.
    procs.wait_until(lambda: stack.client.post(stack.url + "/v1/sessions", json={}).status_code == 201, 10, "the gate to open")
    assert _rows(stack.database_url, "SELECT count(*) FROM memories UNION ALL SELECT count(*) FROM knowledge_documents") == before
    assert stack.client.get(f"{stack.url}/v1/restores/{restore_id}").json()["state"] == "staged"
    assert _rows(stack.database_url, "SELECT count(*) FROM audit_log WHERE action = 'backup.restored'") == [(0,)]
    # Any gateway can apply it now.
    applied = stack.client.post(f"{stack.url}/v1/restores/{restore_id}/apply", json={"mode": "overwrite"})
    assert applied.status_code == 200, applied.text
    assert _rows(stack.database_url, "SELECT content FROM memories") == [(FACT,)]
    assert _rows(stack.database_url, "SELECT data->>'knowledge_k' FROM agent_settings") == [("2",)]


def _ignore_errors(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass  # the gateway was killed under it


POSTERS = 8
IN_PROGRESS = (503, "restore_in_progress", "5")  # status, error code, Retry-After


def test_an_apply_while_8_clients_post_messages_succeeds_and_each_post_is_kept_or_told_to_retry(stack) -> None:
    chats = [stack.new_session() for _ in range(POSTERS)]
    for chat in chats:
        stack.send(chat, "Before the backup.")
    archive = stack.client.get(stack.url + "/v1/backup").content
    backed_up = _rows(stack.database_url, "SELECT id, session_id::text, content FROM messages ORDER BY id")
    restore_id = _stage(stack.client, stack.url, archive)

    applied_at = threading.Event()  # set once the apply has answered
    answers: list[list[tuple[tuple, int | None, bool]]] = [[] for _ in chats]  # (status, code, retry-after), message id, after the apply

    def post(n: int) -> None:
        with httpx.Client(timeout=30, headers=ADMIN, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            count = 0
            while not any(after for _, _, after in answers[n]):  # until a post made after the apply has answered
                after = applied_at.is_set()
                r = client.post(f"{stack.url}/v1/sessions/{chats[n]}/messages", json={"content": f"client {n}, post {count}"})
                body = r.json()
                outcome = (r.status_code, body.get("error", {}).get("code"), r.headers.get("retry-after"))
                answers[n].append((outcome, body.get("id") if r.status_code == 202 else None, after))
                count += 1

    posters = [threading.Thread(target=post, args=(n,)) for n in range(POSTERS)]
    for poster in posters:
        poster.start()
    procs.wait_until(lambda: all(answers), 30, "every client to have posted")
    applied = stack.client.post(f"{stack.url}/v1/restores/{restore_id}/apply", json={"mode": "overwrite"}, timeout=60)
    applied_at.set()
    for poster in posters:
        poster.join(60)

    assert applied.status_code == 200, applied.text
    outcomes = {outcome for client in answers for outcome, _, _ in client}
    assert outcomes <= {(202, None, None), IN_PROGRESS}, outcomes
    # All or nothing: every backed-up message as it was, and of the posts taken, exactly those after the restore.
    taken = sorted(message for client in answers for outcome, message, _ in client if message is not None)
    now = _rows(stack.database_url, "SELECT id, session_id::text, content FROM messages ORDER BY id")
    assert now[: len(backed_up)] == backed_up
    kept = [message for message, _, _ in now[len(backed_up) :]]
    lost = sorted(set(taken) - set(kept))  # taken before the restore, then replaced by it
    assert set(kept) <= set(taken)
    assert not lost or not kept or max(lost) < min(kept), (lost, kept)
    assert kept, "no post was taken after the restore"
    assert _rows(stack.database_url, "SELECT count(*) FROM chat_sessions") == [(POSTERS,)]
