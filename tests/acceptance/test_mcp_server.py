"""/mcp through real processes: an MCP client written with the SDK, a gateway, a worker and the scripted SLM."""

from __future__ import annotations

import httpx

from soma import errors
from tests import procs
from tests.procs import has_event
from tests.soma_mcp import connected, text

CAT = "The user's cat is called Miso."
TEA = "The user drinks green tea every morning."
WATERING = (
    "Tomatoes need deep watering twice a week, early in the morning, so the leaves dry before the sun is high. "
    "Water the soil rather than the plant, about ten litres for each plant, and more during a heat wave."
)
PESTS = "Aphids gather on the young shoots of the roses every spring; wash them off with a strong jet of water."
GUIDE = f"# Garden guide\n\n## Watering\n\n{WATERING}\n\n## Pests\n\n{PESTS}\n".encode()


def _chat_key(stack, name: str = "ide") -> str:
    response = stack.client.post(f"{stack.url}/v1/keys", json={"name": name, "scopes": ["chat"]})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def _own_sessions(stack, key: str) -> list[str]:
    response = httpx.get(f"{stack.url}/v1/sessions", headers={"Authorization": f"Bearer {key}"})
    return [s["id"] for s in response.json()["sessions"]]


async def test_ask_starts_a_chat_of_the_keys_own_and_continues_it_by_its_session_id(stack) -> None:
    stack.worker()
    stack.slm.script({"chunks": ["Hello", " there."]}, {"chunks": ["Still", " here."]})
    key = _chat_key(stack)
    progress: list[str | None] = []

    async def heard(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with connected(stack.url, key) as client:
        first = await client.call_tool("ask", {"message": "Hi"}, progress_callback=heard)
    session_id = first.structured_content["session_id"]
    async with connected(stack.url, key, mode="legacy") as client:  # an IDE on the 2025 handshake continues it
        second = await client.call_tool("ask", {"message": "Are you still there?", "session_id": session_id})

    assert (first.is_error, text(first)) == (False, "Hello there.")
    assert first.structured_content == {"answer": "Hello there.", "session_id": session_id, "message_id": 2, "stopped": False}
    assert (second.is_error, text(second)) == (False, "Still here.")
    assert second.structured_content == {"answer": "Still here.", "session_id": session_id, "message_id": 4, "stopped": False}
    assert progress[-1] == "12 characters of the answer so far"  # the whole answer had arrived before it was returned
    assert _own_sessions(stack, key) == [session_id]
    assert [(m["role"], m["content"]) for m in stack.messages(session_id)] == [
        ("user", "Hi"), ("assistant", "Hello there."), ("user", "Are you still there?"), ("assistant", "Still here."),
    ]  # fmt: skip
    assert stack.slm.requests()[1]["body"]["messages"][1:] == [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."},
        {"role": "user", "content": "Are you still there?"},
    ]  # fmt: skip


async def test_a_turn_that_fails_comes_back_as_a_tool_error_with_its_reason_and_chat(stack) -> None:
    stack.worker(slm_max_attempts=1)
    stack.slm.script({"status": 500})
    key = _chat_key(stack)

    async with connected(stack.url, key) as client:
        result = await client.call_tool("ask", {"message": "Hi"})

    [session_id] = _own_sessions(stack, key)
    [*_, failed] = stack.events(session_id, has_event("turn.failed"))
    reason = errors.TurnFailed(f"The turn failed ({failed['data']['reason']}): {failed['data']['message']}")
    assert failed["data"]["reason"] == "slm_unavailable"
    assert (result.is_error, text(result), result.structured_content) == (True, f"{reason.message} (session_id: {session_id})", None)


async def test_search_memory_and_search_knowledge_find_what_the_agent_has_stored(stack) -> None:
    stack.worker()  # indexes the knowledge file
    remembered = [stack.client.post(f"{stack.url}/v1/memories", json={"content": fact}).json() for fact in (TEA, CAT)]
    document = stack.client.post(f"{stack.url}/v1/knowledge", files={"file": ("garden.md", GUIDE)}).json()
    _wait_ready(stack, document["id"])
    key = _chat_key(stack)

    async with connected(stack.url, key) as client:
        memories = await client.call_tool("search_memory", {"query": "What is the cat's name?"})
        knowledge = await client.call_tool("search_knowledge", {"query": "How often should tomatoes be watered?"})

    searched = stack.client.get(f"{stack.url}/v1/memories", params={"query": "What is the cat's name?"}).json()
    assert memories.structured_content == searched  # the same search as the API's
    best = searched["memories"][0]
    assert (best["id"], best["content"]) == (remembered[1]["id"], CAT)
    assert text(memories).splitlines()[0] == f"- {CAT} (memory {best['id']}, similarity {best['similarity']})"
    excerpt = knowledge.structured_content["excerpts"][0]
    assert (excerpt["filename"], excerpt["document_id"]) == ("garden.md", document["id"])
    assert WATERING in excerpt["content"]
    assert text(knowledge).startswith(f"[garden.md, part {excerpt['ordinal'] + 1}, similarity {excerpt['similarity']}]\n{excerpt['content']}")


def _wait_ready(stack, document_id: str) -> None:
    def ready() -> bool:
        state = stack.client.get(f"{stack.url}/v1/knowledge/{document_id}").json()["state"]
        assert state != "failed"
        return state == "ready"

    procs.wait_until(ready, 180, f"document {document_id} to be indexed", interval=0.5)
