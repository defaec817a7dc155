"""How a run ends: `answered` or `failed`, read from what the database holds, and its webhook queued with it.

The outcome is derived, not reported: a run is answered when its message has an answer, else
failed with the reason of its last `turn.failed` event. So a turn that ran twice (its worker was
killed) ends its run the same way, and ending a run twice changes nothing (only a `running` run ends).
A run whose turn job is gone without ending it (a stop removed the queued turn, its chat was
deleted, its job failed for good) is ended the next time its task comes due (`settle`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from soma.conversations import events, queue
from soma.db import jobs

WEBHOOK_QUEUE = "webhooks"
WEBHOOK_TASK = "soma.task_webhook"
RECENT_RUNS = 5  # of a task's newest runs, those `settle` looks at: older ones ended long ago
GONE = "the turn ended without an answer: it was stopped before it ran, or its chat was deleted"
PENDING = {"attempts": 0, "status": "pending", "error": None, "delivered_at": None, "history": []}

_ANSWERED = "EXISTS (SELECT FROM messages AS m WHERE m.reply_to = r.message_id)"
_FINISH = f"""
    UPDATE task_runs AS r
       SET outcome = CASE WHEN {_ANSWERED} THEN 'answered' ELSE 'failed' END,
           reason = CASE WHEN {_ANSWERED} THEN NULL ELSE coalesce((
                SELECT e.data->>'message' FROM session_events AS e
                 WHERE e.session_id = r.session_id AND e.type = :failed AND e.data->>'reply_to' = CAST(r.message_id AS text)
                 ORDER BY e.id DESC LIMIT 1), :gone) END,
           finished_at = clock_timestamp(),
           webhook = CASE WHEN t.webhook_url IS NULL THEN NULL ELSE CAST(:pending AS jsonb) END
      FROM scheduled_tasks AS t
     WHERE t.id = r.task_id AND r.outcome = 'running' AND {{which}}
 RETURNING r.id, r.outcome, t.webhook_url IS NOT NULL AS hooked
"""
# The run of one turn, by its id (the turn job carries it).
_BY_RUN = sa.text(_FINISH.format(which="r.id = :run_id"))
# The tasks' recent runs still `running` whose turn job is no longer queued or running.
_ORPHANS = sa.text(
    _FINISH.format(
        which="""r.id IN (
            SELECT recent.id FROM unnest(CAST(:tasks AS uuid[])) AS task(id)
             CROSS JOIN LATERAL (SELECT id, outcome FROM task_runs WHERE task_id = task.id ORDER BY id DESC LIMIT :recent) AS recent
             WHERE recent.outcome = 'running')
        AND NOT EXISTS (
            SELECT FROM procrastinate_jobs AS j
             WHERE j.task_name = :turn AND j.status IN ('todo', 'doing') AND j.args->>'run_id' = CAST(r.id AS text))"""
    )
)


def _params() -> dict[str, Any]:
    return {"failed": events.TURN_FAILED, "gone": GONE, "pending": json.dumps(PENDING)}


async def finish(engine: AsyncEngine, run_id: int) -> str | None:
    """End a run after its turn (worker/tasks.py run_turn); its outcome, or None when it had ended already."""
    async with engine.begin() as conn:
        ended = list(await conn.execute(_BY_RUN, _params() | {"run_id": run_id}))
        await _queue_webhooks(conn, ended)
    return ended[0].outcome if ended else None


async def settle(conn: AsyncConnection, task_ids: list[uuid.UUID]) -> int:
    """End the tasks' recent runs whose turn is gone (see the module's docstring); how many, in the caller's transaction."""
    if not task_ids:
        return 0
    params = _params() | {"tasks": [str(t) for t in task_ids], "recent": RECENT_RUNS, "turn": queue.TASK_NAME}
    ended = list(await conn.execute(_ORPHANS, params))
    await _queue_webhooks(conn, ended)
    return len(ended)


async def _queue_webhooks(conn: AsyncConnection, ended: list[Any]) -> None:
    """A webhook job for each ended run whose task has a URL, committed with the outcome."""
    for run in ended:
        if run.hooked:
            await jobs.defer(conn, WEBHOOK_QUEUE, WEBHOOK_TASK, {"run_id": run.id})
