"""A message's files in its turn: the question carries their text within the budget, earlier messages their names, and a run again reads the same."""

from __future__ import annotations

import uuid

from soma.conversations import messages, turn
from soma.settings.store import DEFAULT_SYSTEM_PROMPT
from soma.workspaces import attachments, store
from soma.workspaces.attachments import Attached
from tests.conftest import EMBEDDER
from tests.knowledge import samples

CSV = b"month,total\njanuary,20\nfebruary,35\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


async def _send(turns, session_id: uuid.UUID, content: str, files: list[Attached]) -> dict:
    described = await attachments.prepare(files)
    async with turns.engine.begin() as conn:
        return await messages.post_with_files(conn, session_id, content, files, described)


async def test_the_question_carries_its_files_text_and_the_binary_files_name(turns, slm) -> None:
    chat = await turns.new_session()
    pdf = samples.text_pdf("Quarterly report: sales rose in March.")
    user = await _send(turns, chat, "What do these say?", [Attached("sales.csv", CSV), Attached("report.pdf", pdf), Attached("chart.png", PNG)])

    assert await turns.run(user["id"]) == "answered"

    [request] = slm.requests()
    assert request["body"]["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": (
            "What do these say?\n\n"
            "[Files attached to this message, in your workspace; open them with code to read them whole:]\n\n"
            f"--- sales.csv (text, {len(CSV)} bytes) ---\n{CSV.decode()}\n\n"
            f"--- report.pdf (pdf, {len(pdf)} bytes) ---\nQuarterly report: sales rose in March.\n\n"
            f"--- chart.png (file, {len(PNG)} bytes) ---\n[Not text: open it with code.]"
        )},
    ]  # fmt: skip


async def test_a_long_file_is_cut_with_a_note_and_the_whole_stays_in_the_workspace(turns, slm) -> None:
    chat = await turns.new_session()
    long = "".join(f"row {n}\n" for n in range(5000)).encode()
    user = await _send(turns, chat, "", [Attached("rows.txt", long)])

    await turns.run(user["id"])

    [request] = slm.requests()
    question = request["body"]["messages"][-1]["content"]
    excerpt = long.decode()[: attachments.FILE_CHARS]
    assert question == (
        "[Files attached to this message, in your workspace; open them with code to read them whole:]\n\n"
        f"--- rows.txt (text, {len(long)} bytes) ---\n{excerpt}\n[… cut here: the rest is in the file]"
    )
    async with turns.engine.connect() as conn:
        assert (await store.read(conn, chat, "rows.txt"))[0] == long
    assert (await turns.messages(chat))[0]["meta"]["attachments"][0]["cut"] is True


async def test_earlier_messages_name_their_files_and_the_question_alone_carries_text(turns, slm) -> None:
    chat = await turns.new_session()
    first = await _send(turns, chat, "Here is the data.", [Attached("sales.csv", CSV)])
    await turns.run(first["id"])
    second = await turns.send(chat, "Which month sold more?")

    await turns.run(second["id"])

    history = slm.requests()[-1]["body"]["messages"]
    assert [m["content"] for m in history[1:]] == [
        "Here is the data.\n\n[Files attached to this message, in your workspace: sales.csv]",
        "Hello from the scripted SLM.",
        "Which month sold more?",
    ]


async def test_an_answer_written_again_reads_what_the_message_recorded_though_the_file_changed_since(turns, slm) -> None:
    chat = await turns.new_session()
    user = await _send(turns, chat, "Sum it.", [Attached("sales.csv", CSV)])
    await turns.run(user["id"])
    async with turns.engine.begin() as conn:  # the agent's code rewrote the file after the first answer
        await store.put(conn, chat, "sales.csv", b"rewritten by code", 10**6)

    again = await turn.run(turns.engine, turns.model, EMBEDDER, user["id"], turns.limits, generation=2)  # as a regenerate runs

    first, second = (r["body"]["messages"][-1]["content"] for r in slm.requests())
    assert again == "answered" and first == second and CSV.decode() in second
