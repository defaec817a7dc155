"""New versions of a chat's last exchange: answer the last question again, or edit it and answer that.

Both queue a turn that writes the next `generation` of the answer through the same durable queue as
a new message, so it is answered exactly once; the answer it replaces stays in `versions`. Both
refuse (409) while a turn of the chat is queued or running, rather than queue behind it: what
"the last answer" means would change under the caller.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from soma import errors
from soma.conversations import messages, queue, sessions


async def regenerate(conn: AsyncConnection, session_id: uuid.UUID, owner: str | None = None) -> dict[str, Any]:
    """Queue a new answer to the chat's last user message; returns {"reply_to", "generation"}."""
    sessions.writable(await sessions.get(conn, session_id, lock=True, owner=owner))
    last = await messages.last_user_message(conn, session_id)
    if last is None:
        raise errors.NothingToRegenerate(f"Chat '{session_id}' has no message yet.")
    await _no_turn_in_progress(conn, session_id)
    return await _answer_again(conn, session_id, last["id"])


async def edit(conn: AsyncConnection, session_id: uuid.UUID, message_id: int, content: str, owner: str | None = None) -> dict[str, Any]:
    """Change the chat's last user message and queue a new answer to it; returns the message as changed."""
    sessions.writable(await sessions.get(conn, session_id, lock=True, owner=owner))
    message = await messages.get(conn, message_id)
    if message is None or message["session_id"] != str(session_id):
        raise errors.MessageNotFound(f"Chat '{session_id}' has no message {message_id}.")
    last = await messages.last_user_message(conn, session_id)
    if last is None or last["id"] != message_id:
        what = "an answer" if message["role"] == "assistant" else "not the last user message"
        raise errors.MessageNotEditable(f"Message {message_id} is {what}.")
    await _no_turn_in_progress(conn, session_id)
    changed = await messages.revise(conn, message_id, content)
    await _answer_again(conn, session_id, message_id)
    return changed


async def _answer_again(conn: AsyncConnection, session_id: uuid.UUID, message_id: int) -> dict[str, Any]:
    generation = await messages.answers(conn, message_id) + 1
    await queue.enqueue_turn(conn, session_id, message_id, generation)
    await sessions.touch(conn, session_id)
    return {"reply_to": message_id, "generation": generation}


async def _no_turn_in_progress(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    """TurnInProgress while a turn of the chat is queued or still writing its answer.

    A running job whose answer is stored is done but for the queue's bookkeeping (the worker marks
    it finished a moment later): the user has the answer on screen, so a new turn may queue behind
    it, and the session lock runs it after.
    """
    for job in await queue.unfinished(conn, session_id):
        if not (job.running and await messages.answered(conn, job.message_id, job.generation)):
            raise errors.TurnInProgress(f"The answer to message {job.message_id} is still queued or being written.")
