"""The OpenAI-compatible API driven by the official openai SDK, in-process, its turns run here as a worker runs them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from soma import config
from soma.conversations import turn
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from tests import procs
from tests.conftest import ADMIN_KEY
from tests.conversations import harness
from tests.conversations.harness import DEFAULT_TEXT

BASE_URL = "https://soma.test/v1"


@pytest.fixture
async def turns(
    database_url: str, slm: procs.ScriptedSLM, settings: config.Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[harness.Turns]:
    """The worker's turn machinery on the gateway's database, working every queued turn in the background."""
    async with harness.turns_on_test_key(database_url, slm, settings, monkeypatch, tmp_path, slm_max_attempts=2) as running:
        stop = asyncio.Event()
        working = asyncio.create_task(_work_until(stop, running))
        yield running
        stop.set()  # not cancelled: a turn cut off mid-write would leave its connection broken
        await working


async def _work_until(stop: asyncio.Event, turns: harness.Turns) -> None:
    """Take queued turn jobs as a worker does: mark one doing, run it with its args and id, mark it done."""
    claim = sa.text(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = "
        "(SELECT min(id) FROM procrastinate_jobs WHERE status = 'todo' AND queue_name = 'turns') RETURNING id, args"
    )
    while not stop.is_set():
        async with turns.engine.begin() as conn:
            job = (await conn.execute(claim)).one_or_none()
        if job is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)
            continue
        await turn.run(turns.engine, turns.model, harness.EMBEDDER, job.args["message_id"], turns.limits, 1, job.id)
        async with turns.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"), {"id": job.id})


def _client(gateway: FastAPI, key: str = ADMIN_KEY) -> openai.AsyncOpenAI:
    transport = httpx2.ASGITransport(app=gateway)
    return openai.AsyncOpenAI(api_key=key, base_url=BASE_URL, max_retries=0, http_client=httpx2.AsyncClient(transport=transport))


@pytest.fixture
async def client(gateway: FastAPI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with _client(gateway) as sdk:
        yield sdk


def _user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def _assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


async def _chat(turns: harness.Turns, session_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m["role"], m["content"], m["meta"]) for m in await turns.messages(session_id)]


async def test_the_models_are_the_agent_alone(client) -> None:
    page = await client.models.list()

    assert [(m.id, m.object, m.owned_by) for m in page.data] == [("soma", "model", "soma")]


async def test_a_completion_is_a_turn_of_a_new_chat_with_the_agents_system_prompt(client, turns, slm) -> None:
    completion = await client.chat.completions.create(
        model="soma", messages=[{"role": "system", "content": "Be brief."}, _user("Hello there")]
    )

    [choice] = completion.choices
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", DEFAULT_TEXT, "stop")
    assert (completion.object, completion.model, completion.usage) == ("chat.completion", "soma", None)  # the scripted SLM reports no usage
    soma = completion.model_extra["soma"]
    assert completion.id == f"chatcmpl-soma-{soma['message_id'] - 1}"
    assert soma == {"session_id": soma["session_id"], "message_id": 2, "citations": [], "memories": [], "stopped": False}
    stored = [(role, content) for role, content, _ in await _chat(turns, soma["session_id"])]
    assert stored == [("user", "Hello there"), ("assistant", DEFAULT_TEXT)]
    [request] = slm.requests()
    assert request["body"]["messages"] == [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, _user("Hello there")]


async def test_a_streamed_completion_sends_the_text_as_it_comes_then_a_last_chunk_and_done(client, turns, slm) -> None:
    slm.script({"chunks": ["One", " two", " three."], "delay": 0.02, "usage": {"prompt_tokens": 31, "completion_tokens": 3, "total_tokens": 34}})

    stream = await client.chat.completions.create(model="soma", messages=[_user("Count")], stream=True)
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "One two three."
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert {c.id for c in chunks} == {"chatcmpl-soma-1"} and {c.object for c in chunks} == {"chat.completion.chunk"}
    last = chunks[-1].model_extra["soma"]
    assert (last["message_id"], last["citations"]) == (2, [])
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (31, 3, 34)  # as the SLM reported them
    stored = [(role, content) for role, content, _ in await _chat(turns, last["session_id"])]
    assert stored == [("user", "Count"), ("assistant", "One two three.")]


async def test_a_conversation_sent_whole_each_time_stays_one_chat_of_six_messages(client, turns, slm) -> None:
    slm.script({"chunks": ["First answer."]}, {"chunks": ["Second answer."]}, {"chunks": ["Third answer."]})
    history: list[dict[str, str]] = []
    sessions = set()
    for question in ("One?", "Two?", "Three?"):
        history.append(_user(question))
        completion = await client.chat.completions.create(model="soma", messages=history)
        history.append(_assistant(completion.choices[0].message.content))
        sessions.add(completion.model_extra["soma"]["session_id"])

    [session_id] = sessions
    assert [(role, content) for role, content, _ in await _chat(turns, session_id)] == [
        ("user", "One?"), ("assistant", "First answer."),
        ("user", "Two?"), ("assistant", "Second answer."),
        ("user", "Three?"), ("assistant", "Third answer."),
    ]  # fmt: skip
    third = slm.requests()[2]["body"]["messages"]
    assert third[1:] == history[:-1]  # the SLM saw the chat's history once, in order


async def test_history_soma_never_had_is_stored_as_the_chats_earlier_messages_without_turns(client, turns, slm) -> None:
    messages = [_user("Hi"), _assistant("Hello! How can I help?"), _user("Tell me a fact.")]

    completion = await client.chat.completions.create(model="soma", messages=messages)

    imported = {"imported_from": "openai-api"}
    stored = await _chat(turns, completion.model_extra["soma"]["session_id"])
    assert [(role, content, meta) for role, content, meta in stored[:3]] == [
        ("user", "Hi", imported), ("assistant", "Hello! How can I help?", imported), ("user", "Tell me a fact.", {}),
    ]  # fmt: skip
    assert stored[3][:2] == ("assistant", DEFAULT_TEXT)
    [request] = slm.requests()  # one turn, for the last question only
    assert request["body"]["messages"][1:] == messages


async def test_an_answer_uses_a_stored_memory_and_names_it(client, turns, slm) -> None:
    memory = await turns.remember("My favourite colour is teal.")

    completion = await client.chat.completions.create(model="soma", messages=[_user("What is my favourite colour?")])

    [request] = slm.requests()
    assert request["body"]["messages"][0] == {
        "role": "system", "content": f"{DEFAULT_SYSTEM_PROMPT}\n\nWhat you remember:\n- My favourite colour is teal.",
    }  # fmt: skip
    assert completion.model_extra["soma"]["memories"] == [{"id": memory["id"], "content": "My favourite colour is teal."}]


async def test_errors_come_in_openais_shape_with_openais_statuses(gateway, client, turns, slm) -> None:
    async with _client(gateway, key="soma_not-a-key") as stranger:
        with pytest.raises(openai.AuthenticationError) as refused:
            await stranger.chat.completions.create(model="soma", messages=[_user("Hi")])
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="gpt-4o", messages=[_user("Hi")])
    with pytest.raises(openai.BadRequestError) as unanswerable:
        await client.chat.completions.create(model="soma", messages=[_user("Hi"), _assistant("Hello")])
    slm.script({"status": 429}, {"status": 429})
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="soma", messages=[_user("Hi")])

    assert (refused.value.status_code, refused.value.body) == (401, {
        "message": "This API key is unknown, revoked or expired. Sign in first: log in on the web UI, "
        "or send `Authorization: Bearer <key>` with a key from `soma keys create`.",
        "type": "authentication_error", "param": None, "code": "invalid_api_key",
    })  # fmt: skip
    assert (unknown.value.status_code, unknown.value.body) == (404, {
        "message": "The model 'gpt-4o' does not exist. Soma serves the model `soma` only. "
        "List the models with GET /v1/models and send one of their ids as `model`.",
        "type": "invalid_request_error", "param": None, "code": "model_not_found",
    })  # fmt: skip
    assert (unanswerable.value.status_code, unanswerable.value.code) == (400, "invalid_request")
    assert (limited.value.status_code, limited.value.code, limited.value.type) == (429, "rate_limit_exceeded", "rate_limit_error")


async def test_the_rest_of_the_api_keeps_somas_error_shape(api) -> None:
    response = await api.get("/v1/sessions/not-an-id")

    assert set(response.json()["error"]) == {"code", "message"}


async def test_x_soma_session_sends_the_question_to_that_chat_whatever_the_history(client, turns, slm) -> None:
    first = await client.chat.completions.create(model="soma", messages=[_user("Start")])
    session_id = first.model_extra["soma"]["session_id"]

    again = await client.chat.completions.create(
        model="soma", messages=[_user("Go on")], extra_headers={"X-Soma-Session": session_id}
    )
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(
            model="soma", messages=[_user("Hi")], extra_headers={"X-Soma-Session": "00000000-0000-0000-0000-000000000000"}
        )

    assert again.model_extra["soma"]["session_id"] == session_id
    stored = [(role, content) for role, content, _ in await _chat(turns, session_id)]
    assert stored == [("user", "Start"), ("assistant", DEFAULT_TEXT), ("user", "Go on"), ("assistant", DEFAULT_TEXT)]
    assert (unknown.value.status_code, unknown.value.code) == (404, "not_found")
