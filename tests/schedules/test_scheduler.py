"""The scheduler's claim on a real database: a due time becomes one run, missed ones follow the task's policy, blocked owners pause."""

from __future__ import annotations

import asyncio
import datetime

import psycopg

from soma.schedules import outcomes, scheduler
from tests.conftest import client_of

EVERY_MINUTE = {"every_seconds": 60}
PASSWORD = "a long enough password 1"


async def _task(api, **fields) -> dict:
    body = {"name": "Check", "prompt": "Anything new?", "schedule": EVERY_MINUTE} | fields
    response = await api.post("/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _due_ago(database_url: str, seconds: float, task_id: str | None = None) -> datetime.datetime:
    """Make tasks due `seconds` ago by the database's clock (a stored due time, as after downtime); the due time."""
    with psycopg.connect(database_url) as conn:
        where = "" if task_id is None else " WHERE id = %(id)s"
        conn.execute(f"UPDATE scheduled_tasks SET next_run_at = date_trunc('second', clock_timestamp()) - make_interval(secs => %(s)s){where}",
                     {"s": seconds, "id": task_id})  # fmt: skip
        return conn.execute("SELECT max(next_run_at) FROM scheduled_tasks").fetchone()[0]


def _rows(database_url: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


async def test_a_due_task_gets_one_run_and_its_next_due_time_follows_the_stored_one(api, gateway, database_url) -> None:
    task = await _task(api)
    due = _due_ago(database_url, 2)

    assert await scheduler.claim_due(gateway.state.engine) == 1
    assert await scheduler.claim_due(gateway.state.engine) == 0

    [run] = (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert (run["outcome"], run["late"], run["manual"], datetime.datetime.fromisoformat(run["due_at"])) == ("running", False, False, due)
    shown = (await api.get(f"/v1/tasks/{task['id']}")).json()
    assert datetime.datetime.fromisoformat(shown["next_run_at"]) == due + datetime.timedelta(seconds=60)
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE args->>'run_id' = %s", str(run["id"])) == [(1,)]


async def test_ticks_claiming_at_once_start_each_due_time_once(api, gateway, database_url) -> None:
    for number in range(40):
        await _task(api, name=f"Task {number}")
    _due_ago(database_url, 1)

    claimed = await asyncio.gather(*(scheduler.claim_due(gateway.state.engine) for _ in range(4)))

    assert sum(claimed) == 40
    assert _rows(database_url, "SELECT count(*), count(DISTINCT task_id), count(DISTINCT session_id) FROM task_runs") == [(40, 40, 40)]
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'soma.turn'") == [(40,)]


async def test_missed_due_times_are_skipped_once_and_the_task_moves_past_now(api, gateway, database_url) -> None:
    task = await _task(api, missed="skip")
    due = _due_ago(database_url, 3 * 3600 + 30)  # three hours of downtime: 180 due times missed

    await scheduler.claim_due(gateway.state.engine)

    [run] = (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert (run["outcome"], run["session_id"], run["late"]) == ("skipped", None, False)
    assert run["reason"] == f"Missed: due at {due.isoformat()} while Soma was not running; skipped as the task's `missed` policy says."
    next_due = datetime.datetime.fromisoformat((await api.get(f"/v1/tasks/{task['id']}")).json()["next_run_at"])
    [(now,)] = _rows(database_url, "SELECT clock_timestamp()")
    assert now < next_due <= now + datetime.timedelta(seconds=60) and (next_due - due).total_seconds() % 60 == 0  # on its phase
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'soma.turn'") == [(0,)]


async def test_missed_due_times_run_once_late_under_run_once(api, gateway, database_url) -> None:
    task = await _task(api, missed="run_once")
    due = _due_ago(database_url, 3 * 3600 + 30)

    await scheduler.claim_due(gateway.state.engine)
    assert await scheduler.claim_due(gateway.state.engine) == 0

    [run] = (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert (run["outcome"], run["late"], datetime.datetime.fromisoformat(run["due_at"])) == ("running", True, due)
    assert run["session_id"] is not None
    [(now,)] = _rows(database_url, "SELECT clock_timestamp()")
    assert datetime.datetime.fromisoformat((await api.get(f"/v1/tasks/{task['id']}")).json()["next_run_at"]) > now


async def test_a_task_whose_owner_key_is_revoked_records_why_once_and_pauses(api, gateway, database_url) -> None:
    made = (await api.post("/v1/keys", json={"name": "ann", "scopes": ["chat"]})).json()
    async with client_of(gateway, {"Authorization": f"Bearer {made['key']}"}) as ann:
        task = await _task(ann)
    assert (await api.delete(f"/v1/keys/{made['id']}")).status_code in (200, 204)
    _due_ago(database_url, 1)

    await scheduler.claim_due(gateway.state.engine)
    _due_ago(database_url, 1)  # as if due again: a paused task is not claimed
    assert await scheduler.claim_due(gateway.state.engine) == 0

    [run] = (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert (run["outcome"], run["session_id"]) == ("skipped", None)
    assert run["reason"] == "Not run: its owner's API key is revoked. The task is paused; resume it when its owner may run it again."
    assert (await api.get(f"/v1/tasks/{task['id']}")).json()["paused"] is True
    by_hand = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]  # an admin's run now: refused the same way
    assert (by_hand["outcome"], by_hand["manual"], by_hand["reason"]) == ("skipped", True, "Not run: its owner's API key is revoked.")


async def test_a_run_ends_answered_or_failed_from_what_the_database_holds(api, gateway, database_url) -> None:
    task = await _task(api, webhook_url="https://hooks.example.com/x")
    answered = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]
    failed = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]
    with psycopg.connect(database_url) as conn:
        [message_id] = conn.execute("SELECT message_id FROM task_runs WHERE id = %s", (answered["id"],)).fetchone()
        conn.execute("INSERT INTO messages (session_id, role, content, reply_to) VALUES (%s, 'assistant', 'Nothing new.', %s)",
                     (answered["session_id"], message_id))  # fmt: skip

    engine = gateway.state.engine
    assert [await outcomes.finish(engine, answered["id"]), await outcomes.finish(engine, failed["id"])] == ["answered", "failed"]
    assert await outcomes.finish(engine, answered["id"]) is None  # ended once

    by_id = {run["id"]: run for run in (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]}
    assert (by_id[answered["id"]]["outcome"], by_id[answered["id"]]["reason"]) == ("answered", None)
    assert (by_id[failed["id"]]["outcome"], by_id[failed["id"]]["reason"]) == ("failed", outcomes.GONE)
    assert by_id[failed["id"]]["webhook"] == outcomes.PENDING and by_id[failed["id"]]["read"] is False
    assert _rows(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", outcomes.WEBHOOK_TASK) == [(2,)]


async def test_a_run_whose_turn_was_removed_ends_failed_when_its_task_comes_due(api, gateway, database_url) -> None:
    task = await _task(api)
    run = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]
    assert (await api.post(f"/v1/sessions/{run['session_id']}/stop")).status_code in (200, 202)  # removes the queued turn
    _due_ago(database_url, 1)

    await scheduler.claim_due(gateway.state.engine)

    runs = (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert [(r["manual"], r["outcome"]) for r in runs] == [(False, "running"), (True, "failed")]


async def test_a_task_whose_stored_schedule_is_broken_stops_alone_and_says_why(api, gateway, database_url) -> None:
    broken, sound = await _task(api, name="Broken"), await _task(api, name="Sound")
    with psycopg.connect(database_url) as conn:  # as a restore from elsewhere, or a hand edit, could leave it
        conn.execute("UPDATE scheduled_tasks SET schedule = '{\"cron\": \"99 * * * *\"}' WHERE id = %s", (broken["id"],))
    _due_ago(database_url, 1)

    assert await scheduler.claim_due(gateway.state.engine) == 2

    [run] = (await api.get(f"/v1/tasks/{broken['id']}/runs")).json()["runs"]
    assert (run["outcome"], (await api.get(f"/v1/tasks/{broken['id']}")).json()["paused"]) == ("skipped", True)
    assert run["reason"].startswith("Not run: The stored schedule is not valid: 'schedule.cron': '99 * * * *' is not a cron expression")
    assert [r["outcome"] for r in (await api.get(f"/v1/tasks/{sound['id']}/runs")).json()["runs"]] == ["running"]
    resumed = await api.patch(f"/v1/tasks/{broken['id']}", json={"paused": False})
    assert (resumed.status_code, resumed.json()["error"]["code"]) == (422, "invalid_task")
    fixed = await api.patch(f"/v1/tasks/{broken['id']}", json={"paused": False, "schedule": EVERY_MINUTE})
    assert fixed.status_code == 200 and fixed.json()["next_run_at"] is not None


async def test_a_disabled_users_task_stops_running(api, gateway, database_url) -> None:
    user = (await api.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "member"})).json()
    async with client_of(gateway) as ann:
        login = await ann.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD})
        ann.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        task = await _task(ann)
    assert (await api.patch(f"/v1/users/{user['id']}", json={"disabled": True})).status_code == 200
    _due_ago(database_url, 1)

    await scheduler.claim_due(gateway.state.engine)

    [run] = (await api.get(f"/v1/tasks/{task['id']}/runs")).json()["runs"]
    assert (run["outcome"], run["session_id"]) == ("skipped", None)
    assert run["reason"] == "Not run: its owner's account is disabled. The task is paused; resume it when its owner may run it again."
    assert (await api.get(f"/v1/tasks/{task['id']}")).json()["paused"] is True
    assert _rows(database_url, "SELECT count(*) FROM chat_sessions") == [(0,)]
