"""The built-in tools run against a real database: remember, forget, search_memory, search_knowledge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from soma.db import engine as db_engine
from soma.knowledge import ingest
from soma.tools import builtin_tools, builtins, delegate, run_code
from soma.tools.registry import ToolResult
from tests.conftest import EMBEDDER


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db_engine.create(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def tools(engine: AsyncEngine) -> dict:
    return builtin_tools.every(engine, EMBEDDER)


def _rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT id, content, source FROM memories ORDER BY id").fetchall()


def test_each_built_in_runs_under_the_spec_the_registry_describes() -> None:
    made = builtin_tools.every(None, EMBEDDER)  # type: ignore[arg-type]  # nothing runs
    made["run_code"] = run_code.RunCode(None, None, None)  # type: ignore[arg-type]  # made per turn, with the worker's sandbox
    made["delegate"] = delegate.Delegate([], 0, 3, None)  # type: ignore[arg-type]  # made per turn; its copy lists the profiles
    assert {name: tool.spec for name, tool in made.items()} == {spec.name: spec for spec in builtins.SPECS}


async def test_remember_stores_an_agent_memory_and_a_restatement_merges(tools, database_url) -> None:
    first = await tools["remember"].run({"content": "The user's dog is called Rex."})
    again = await tools["remember"].run({"content": "The user has a dog named Rex."})

    assert first == ToolResult(True, "Remembered as memory 1: The user's dog is called Rex.", details={"remembered": 1})
    assert again == ToolResult(True, "Updated memory 1, which said the same, to: The user has a dog named Rex.", details={"remembered": 1})
    assert _rows(database_url) == [(1, "The user has a dog named Rex.", "agent")]


async def test_forget_by_description_removes_only_a_close_memory(tools, database_url) -> None:
    await tools["remember"].run({"content": "my favourite colour is teal"})

    missed = await tools["forget"].run({"content": "my favourite colour is blue"})
    forgot = await tools["forget"].run({"content": "My favourite colour is teal."})

    assert missed == ToolResult(False, "Nothing changed: no memory is close to 'my favourite colour is blue'.", "not_found")
    assert forgot == ToolResult(True, "Forgot memory 1: my favourite colour is teal", details={"forgotten": 1})
    assert _rows(database_url) == []


async def test_forget_by_id_removes_that_memory(tools, database_url) -> None:
    await tools["remember"].run({"content": "The spare key is under the mat."})
    await tools["remember"].run({"content": "The dentist is on Baker Street."})

    forgot = await tools["forget"].run({"id": 1})

    assert forgot == ToolResult(True, "Forgot memory 1: The spare key is under the mat.", details={"forgotten": 1})
    assert _rows(database_url) == [(2, "The dentist is on Baker Street.", "agent")]


@pytest.mark.parametrize(
    ("name", "arguments", "result"),
    [
        ("remember", {"text": "wrong key"}, ToolResult(False, 'Nothing changed: remember needs {"content": "the fact"}.', "invalid_arguments")),
        ("remember", {"content": "  "}, ToolResult(False, "Nothing changed: The content is empty. The memory request is not valid. "
         'Send {"content": "the fact"} with some text; search with ?query=…, which returns one page.', "invalid_arguments")),
        ("forget", {}, ToolResult(False, 'Nothing changed: forget needs {"content": "the fact"} or {"id": the memory\'s id}.', "invalid_arguments")),
        ("forget", {"id": 7}, ToolResult(False, "Nothing changed: Memory 7 does not exist. No memory has this id. "
         "List memories with GET /v1/memories, or search them with GET /v1/memories?query=….", "not_found")),
        ("search_memory", {"q": "x"}, ToolResult(False, 'search_memory needs {"query": "what to look for"}.', "invalid_arguments")),
        ("search_knowledge", {"query": " "}, ToolResult(False, 'search_knowledge needs {"query": "what to look for"}.', "invalid_arguments")),
    ],
)
async def test_a_bad_call_is_answered_in_words_and_changes_nothing(tools, database_url, name, arguments, result) -> None:
    assert await tools[name].run(arguments) == result
    assert _rows(database_url) == []


async def test_search_memory_lists_the_closest_memories_with_their_ids(tools) -> None:
    await tools["remember"].run({"content": "The user's dog is called Rex."})
    await tools["remember"].run({"content": "The user lives in Porto."})

    found = await tools["search_memory"].run({"query": "What is the dog's name?"})

    first, second = found.text.splitlines()
    assert found.ok and first.startswith("- memory 1 (similarity 0.") and first.endswith("): The user's dog is called Rex.")
    assert second.startswith("- memory 2 (similarity ") and second.endswith("): The user lives in Porto.")


async def test_search_memory_and_knowledge_say_so_when_there_is_nothing_to_find(tools) -> None:
    assert await tools["search_memory"].run({"query": "dog"}) == ToolResult(True, "Memory is empty.")
    assert await tools["search_knowledge"].run({"query": "dog"}) == ToolResult(True, "No knowledge file is indexed.")


async def test_search_knowledge_returns_excerpts_that_name_their_file(tools, api, engine) -> None:
    text = b"# Tomatoes\n\nWater tomatoes deeply twice a week, in the morning.\n"
    document = (await api.post("/v1/knowledge", files={"file": ("garden.md", text, "text/markdown")})).json()
    assert await ingest.run(engine, EMBEDDER, uuid.UUID(document["id"])) == "ready"

    found = await tools["search_knowledge"].run({"query": "How often do I water tomatoes?"})

    assert found == ToolResult(True, "[1] (garden.md, part 1) # Tomatoes\n\nWater tomatoes deeply twice a week, in the morning.")
