"""The remember and forget tools, carried out against a real database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from soma.db import engine as db_engine
from soma.memory import tools
from tests.conftest import EMBEDDER



@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.create(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def toolbox(engine: AsyncEngine) -> tools.Toolbox:
    return tools.Toolbox(engine, EMBEDDER)


def _rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT id, content, source FROM memories ORDER BY id").fetchall()


def test_the_tools_are_offered_as_openai_functions() -> None:
    assert [d["type"] for d in tools.DEFINITIONS] == ["function", "function"]
    assert [d["function"]["name"] for d in tools.DEFINITIONS] == ["remember", "forget"]
    assert tools.DEFINITIONS[0]["function"]["parameters"]["required"] == ["content"]
    assert set(tools.DEFINITIONS[1]["function"]["parameters"]["properties"]) == {"content", "id"}


async def test_remember_stores_an_agent_memory_and_a_restatement_merges(toolbox, database_url) -> None:
    first = await toolbox.call("remember", json.dumps({"content": "The user's dog is called Rex."}))
    again = await toolbox.call("remember", json.dumps({"content": "The user has a dog named Rex."}))

    assert first == "Remembered as memory 1: The user's dog is called Rex."
    assert again == "Updated memory 1, which said the same, to: The user has a dog named Rex."
    assert toolbox.remembered == [1]
    assert _rows(database_url) == [(1, "The user has a dog named Rex.", "agent")]


async def test_forget_by_description_removes_only_a_close_memory(toolbox, database_url) -> None:
    await toolbox.execute("remember", {"content": "my favourite colour is teal"})

    missed = await toolbox.execute("forget", {"content": "my favourite colour is blue"})
    forgot = await toolbox.execute("forget", {"content": "My favourite colour is teal."})

    assert missed == "Nothing changed: no memory is close to 'my favourite colour is blue'."
    assert forgot == "Forgot memory 1: my favourite colour is teal"
    assert toolbox.forgotten == [1]
    assert _rows(database_url) == []


async def test_forget_by_id_removes_that_memory(toolbox, database_url) -> None:
    await toolbox.execute("remember", {"content": "The spare key is under the mat."})
    await toolbox.execute("remember", {"content": "The dentist is on Baker Street."})

    assert await toolbox.call("forget", '{"id": 1}') == "Forgot memory 1: The spare key is under the mat."
    assert _rows(database_url) == [(2, "The dentist is on Baker Street.", "agent")]


@pytest.mark.parametrize(
    ("name", "arguments", "result"),
    [
        ("remember", '{"content": "unfinished', "Nothing changed: the arguments '{\"content\": \"unfinished' are not valid JSON. Send a JSON object."),
        ("remember", '["a list"]', "Nothing changed: the arguments '[\"a list\"]' are not a JSON object."),
        ("remember", '{"text": "wrong key"}', 'Nothing changed: remember needs {"content": "the fact"}.'),
        ("remember", '{"content": "  "}', "Nothing changed: The content is empty. The memory request is not valid. "
         'Send {"content": "the fact"} with some text; search with ?query=…, which returns one page.'),
        ("forget", "{}", 'Nothing changed: forget needs {"content": "the fact"} or {"id": the memory\'s id}.'),
        ("forget", '{"id": 7}', "Nothing changed: Memory 7 does not exist. No memory has this id. "
         "List memories with GET /v1/memories, or search them with GET /v1/memories?query=…."),
        ("search_web", '{"q": "x"}', "Nothing changed: there is no tool named 'search_web'; the tools are remember and forget."),
    ],
)
async def test_a_bad_call_is_answered_in_words_and_changes_nothing(toolbox, database_url, name, arguments, result) -> None:
    assert await toolbox.call(name, arguments) == result
    assert (toolbox.remembered, toolbox.forgotten, _rows(database_url)) == ([], [], [])
