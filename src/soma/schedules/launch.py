"""Claimed due times made into runs, chats, user messages and turn jobs: a batch in three statements, one transaction.

1. CLAIM locks due tasks (`FOR UPDATE SKIP LOCKED`: a task another worker holds is left to it) and
   reads what decides their runs: the database's clock, whether the owner may still run anything,
   whether a kept chat still exists. Under a restore's apply it claims nothing (restore_lock.OPEN).
2. RECORD advances each task's next due time and inserts its run; unique (task_id, due_at) makes a
   second run of one due time impossible whatever else goes wrong.
3. START makes each running run's chat (or takes the kept one), its user message with the
   `message.created` event, and its turn job, the same rows messages.post_user_message writes for a
   message posted by hand; runs whose kept chat vanished meanwhile end `failed`.
Each statement takes the whole batch (one round trip for hundreds of tasks): a due time's turn is
queued within a fraction of a second even when a thousand fall on the same second.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from soma.conversations import events, message_shape, queue
from soma.db import restore_lock

# Why an owner's tasks do not run: '' when they may.
_OWNER_BLOCKED = """
    CASE split_part(t.owner, ':', 1)
    WHEN 'user' THEN coalesce((SELECT CASE WHEN u.disabled_at IS NOT NULL THEN 'its owner''s account is disabled' ELSE '' END
                                 FROM users AS u WHERE u.id = CAST(split_part(t.owner, ':', 2) AS bigint)),
                              'its owner''s account no longer exists')
    WHEN 'key' THEN coalesce((SELECT CASE WHEN k.revoked_at IS NOT NULL THEN 'its owner''s API key is revoked'
                                          WHEN k.expires_at <= now() THEN 'its owner''s API key has expired' ELSE '' END
                                FROM api_keys AS k WHERE k.id = CAST(split_part(t.owner, ':', 2) AS bigint)),
                             'its owner''s API key no longer exists')
    ELSE 'its owner is not a user or an API key' END
"""
_CLAIM = """
    SELECT t.id, t.owner, t.name, t.prompt, t.profile, t.schedule, t.target, t.missed, t.session_id, t.next_run_at,
           clock_timestamp() AS now, {owner_blocked} AS blocked,
           t.session_id IS NOT NULL AND EXISTS (SELECT FROM chat_sessions AS c WHERE c.id = t.session_id) AS chat_kept
      FROM scheduled_tasks AS t
     WHERE {restore_open} AND {which}
       FOR UPDATE OF t {skip}
"""
# Due tasks, earliest first; those another worker claims are skipped, not waited for.
CLAIM_DUE = sa.text(
    _CLAIM.format(
        owner_blocked=_OWNER_BLOCKED, restore_open=restore_lock.OPEN, skip="SKIP LOCKED",
        which="NOT t.paused AND t.next_run_at <= clock_timestamp() ORDER BY t.next_run_at LIMIT :batch",
    )  # fmt: skip
)
# One task, run now by hand: waits for a tick that holds it.
CLAIM_ONE = sa.text(_CLAIM.format(owner_blocked=_OWNER_BLOCKED, restore_open=restore_lock.OPEN, skip="", which="t.id = :task_id"))

_RECORD = sa.text(
    """
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            task_id uuid, due_at timestamptz, manual boolean, late boolean, outcome text, reason text, session_id uuid,
            advance boolean, next_run_at timestamptz, pause boolean, keep_chat boolean)
    ), moved AS (
        UPDATE scheduled_tasks AS t
           SET next_run_at = CASE WHEN i.pause THEN NULL WHEN i.advance THEN i.next_run_at ELSE t.next_run_at END,
               paused = t.paused OR i.pause,
               session_id = CASE WHEN i.keep_chat THEN i.session_id ELSE t.session_id END
          FROM input AS i
         WHERE t.id = i.task_id AND (i.advance OR i.pause OR i.keep_chat)
    )
    INSERT INTO task_runs (task_id, due_at, manual, late, outcome, reason, started_at, finished_at, session_id)
    SELECT task_id, due_at, manual, late, outcome, reason, clock_timestamp(),
           CASE WHEN outcome = 'skipped' THEN clock_timestamp() END, CASE WHEN outcome = 'running' THEN session_id END
      FROM input
        ON CONFLICT (task_id, due_at) DO NOTHING
    RETURNING id, task_id
    """
)

_START = sa.text(
    f"""
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            run_id bigint, session_id uuid, new_chat boolean, owner text, profile text, title text, prompt text, meta jsonb,
            args jsonb, lock text)
    ), made AS (
        INSERT INTO chat_sessions (id, title, owner, profile, last_event_id)
        SELECT session_id, title, owner, profile, 1 FROM input WHERE new_chat
     RETURNING id, last_event_id
    ), kept AS (
        UPDATE chat_sessions AS c SET last_event_id = c.last_event_id + 1, updated_at = now()
          FROM input AS i WHERE c.id = i.session_id AND NOT i.new_chat
     RETURNING c.id, c.last_event_id
    ), chat AS (
        SELECT * FROM made UNION ALL SELECT * FROM kept
    ), message AS (
        INSERT INTO messages (session_id, role, content, meta)
        SELECT i.session_id, 'user', i.prompt, i.meta FROM input AS i JOIN chat ON chat.id = i.session_id
     RETURNING session_id, id, {message_shape.json_of()} AS message
    ), event AS (
        INSERT INTO session_events (session_id, id, type, data)
        SELECT chat.id, chat.last_event_id, '{events.MESSAGE_CREATED}', jsonb_build_object('message', message.message)
          FROM chat JOIN message ON message.session_id = chat.id
    ), job AS (
        SELECT count(*) AS queued FROM unnest(procrastinate_defer_jobs_v1(ARRAY(
            SELECT ROW(:queue, :task, 0, i.lock, NULL, i.args || jsonb_build_object('message_id', message.id), NULL)::procrastinate_job_to_defer_v1
              FROM input AS i JOIN message ON message.session_id = i.session_id ORDER BY message.id)))
    ), linked AS (
        UPDATE task_runs AS r
           SET message_id = message.id,
               started_at = clock_timestamp(),  -- its turn is queued: the scheduler's part is done
               outcome = CASE WHEN message.id IS NULL THEN 'failed' ELSE r.outcome END,
               reason = CASE WHEN message.id IS NULL THEN :chat_gone ELSE r.reason END,
               finished_at = CASE WHEN message.id IS NULL THEN clock_timestamp() END
          FROM input AS i LEFT JOIN message ON message.session_id = i.session_id
         WHERE r.id = i.run_id
    )
    SELECT job.queued FROM job
    """
)
CHAT_GONE = "its chat was deleted as the run started"


@dataclass(frozen=True)
class Run:
    """What one claimed task gets: a run, and when it is `running`, a turn in `session_id`."""

    task_id: uuid.UUID
    due_at: Any  # datetime
    outcome: str  # running | skipped
    reason: str | None = None
    late: bool = False
    manual: bool = False
    advance: bool = True  # set the task's next due time to next_run_at
    next_run_at: Any = None
    pause: bool = False  # the owner may not run it: paused until resumed
    session_id: uuid.UUID | None = None
    new_chat: bool = False
    keep_chat: bool = False  # same_chat: the task keeps session_id from now on


async def record(conn: AsyncConnection, planned: list[Run]) -> dict[uuid.UUID, int]:
    """Advance the tasks and insert their runs; the id of each run inserted (running or skipped), by task (a due time run already is left out)."""
    rows = [
        {"task_id": str(p.task_id), "due_at": p.due_at.isoformat(), "manual": p.manual, "late": p.late, "outcome": p.outcome,
         "reason": p.reason, "session_id": str(p.session_id) if p.session_id else None, "advance": p.advance,
         "next_run_at": p.next_run_at.isoformat() if p.next_run_at else None, "pause": p.pause, "keep_chat": p.keep_chat}
        for p in planned
    ]  # fmt: skip
    inserted = await conn.execute(_RECORD, {"rows": json.dumps(rows)})
    return {row.task_id: row.id for row in inserted}


async def start(conn: AsyncConnection, planned: list[Run], run_ids: dict[uuid.UUID, int], tasks: dict[uuid.UUID, Any]) -> int:
    """Make the chats, messages and turn jobs of the running runs (those with a session) in `run_ids`; how many turns were queued."""
    rows = []
    for p in planned:
        if (run_id := run_ids.get(p.task_id)) is None or p.session_id is None:
            continue
        task = tasks[p.task_id]
        meta = {"task": {"id": str(task.id), "name": task.name, "run_id": run_id}}
        args = queue.turn_args(p.session_id) | {"run_id": run_id}
        rows.append({"run_id": run_id, "session_id": str(p.session_id), "new_chat": p.new_chat, "owner": task.owner, "profile": task.profile,
                     "title": task.name, "prompt": task.prompt, "meta": meta, "args": args, "lock": queue.session_lock(p.session_id)})  # fmt: skip
    if not rows:
        return 0
    params = {"rows": json.dumps(rows), "queue": queue.QUEUE, "task": queue.TASK_NAME, "chat_gone": CHAT_GONE}
    return (await conn.execute(_START, params)).scalar_one()
