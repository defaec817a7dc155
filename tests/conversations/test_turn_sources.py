"""An answer's sources (`meta.sources`): the knowledge passages and memories its prompt gave, which it cites, across versions and a resumed run."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from soma.conversations import sources
from soma.knowledge import ingest
from tests import procs
from tests.conftest import EMBEDDER

GUIDE = b"# Garden guide\n\nTomatoes need six hours of direct sun and deep watering twice a week.\n"
PASSAGE = "# Garden guide\n\nTomatoes need six hours of direct sun and deep watering twice a week."
HABIT = "I water my tomatoes in the morning."


async def _ready_guide(api, turns) -> str:
    """garden.md uploaded through the API and indexed as the worker indexes it; its document id."""
    document = (await api.post("/v1/knowledge", files={"file": ("garden.md", GUIDE)})).json()
    assert await ingest.run(turns.engine, EMBEDDER, uuid.UUID(document["id"])) == "ready"
    async with turns.engine.begin() as conn:  # its job is done: turns.work() takes the turns' jobs
        await conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE queue_name = 'knowledge'"))
    return document["id"]


def _sources(guide: str, memory: int, cited: bool) -> list[dict]:
    return [
        {"kind": "knowledge", "id": guide, "title": "garden.md", "excerpt": PASSAGE, "marker": 1, "cited": cited},
        {"kind": "memory", "id": memory, "title": HABIT, "excerpt": HABIT, "marker": None, "cited": None},
    ]


async def test_an_answer_lists_every_passage_and_memory_it_was_given_and_flags_the_passages_it_cites(api, turns, slm) -> None:
    guide = await _ready_guide(api, turns)
    habit = await turns.remember(HABIT)
    slm.script({"chunks": ["Water them twice a week [1]."]}, {"chunks": ["Deep watering helps."]})

    session_id = await turns.new_session()
    await turns.send(session_id, "How often should I water tomatoes?")
    assert await turns.work() == "answered"
    again = await api.post(f"/v1/sessions/{session_id}/regenerate")
    assert again.status_code == 202, again.text
    assert await turns.work() == "answered"

    [request] = slm.requests()[:1]
    assert f"[1] (garden.md) {PASSAGE}" in request["body"]["messages"][0]["content"]
    listed = (await api.get(f"/v1/sessions/{session_id}/messages")).json()["messages"]
    answer = listed[-1]
    assert answer["meta"]["sources"] == _sources(guide, habit["id"], cited=False)  # the new version cites nothing
    assert answer["versions"][0]["meta"]["sources"] == _sources(guide, habit["id"], cited=True)  # the first one said [1]
    stored = [e["data"]["message"] for e in await turns.events(session_id) if e["event"] == "assistant.message"]
    assert [m["meta"]["sources"] for m in stored] == [_sources(guide, habit["id"], cited=True), _sources(guide, habit["id"], cited=False)]


async def test_a_turn_cut_off_mid_answer_and_run_again_records_the_sources_of_the_answer_it_stores(api, turns, slm) -> None:
    guide = await _ready_guide(api, turns)
    habit = await turns.remember(HABIT)
    slm.script({"chunks": ["Twice", " a week."], "hold_after": 1}, {"chunks": ["Twice a week [1] in the morning."]})
    session_id = await turns.new_session()
    user = await turns.send(session_id, "How often should I water tomatoes?")
    cut = asyncio.create_task(turns.run(user["id"]))

    async def streaming() -> bool:
        return any(e["event"] == "assistant.delta" for e in await turns.events(session_id))

    await procs.eventually(streaming, 10, "the first run to stream its first words")
    cut.cancel()  # as a worker's drain cancels a turn past its deadline; the queue runs it again
    await asyncio.gather(cut, return_exceptions=True)
    slm.release()

    assert await turns.run(user["id"]) == "answered"
    [answer] = [m for m in await turns.messages(session_id) if m["role"] == "assistant"]
    assert (answer["content"], answer["meta"]["sources"]) == ("Twice a week [1] in the morning.", _sources(guide, habit["id"], cited=True))


def test_markers_are_read_alone_or_several_in_one_pair_of_brackets_and_a_long_memory_is_titled_by_its_first_words() -> None:
    assert sources.markers("Twice a week [1]; see [2, 3] and [4;5], not [x] or [1](https://example.com) twice.") == {1, 2, 3, 4, 5}
    assert sources.title("  Short   fact.\n") == "Short fact."
    long = "The user keeps a vegetable garden with tomatoes, beans, courgettes and a row of sunflowers along the fence."
    assert sources.title(long) == "The user keeps a vegetable garden with tomatoes, beans, courgettes and a row…"  # no word cut in half
    assert len(sources.title(long)) <= sources.TITLE_CHARS
