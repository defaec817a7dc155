"""The scheduled tasks API in-process: shapes, refusals with their reasons, owners, pause/resume/run now/edit/delete."""

from __future__ import annotations

import datetime
import uuid

import psycopg
import pytest

from soma.schedules import scheduler
from tests.conftest import client_of

CRON = {"cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"}


async def _member(api, gateway, name: str = "ann"):
    """A client holding a chat-only key: a member, who sees only their own tasks."""
    response = await api.post("/v1/keys", json={"name": name, "scopes": ["chat"]})
    assert response.status_code == 201, response.text
    return client_of(gateway, {"Authorization": f"Bearer {response.json()['key']}"}), response.json()["id"]


async def _create(client, **fields) -> dict:
    body = {"name": "Morning digest", "prompt": "Summarise my day.", "schedule": CRON} | fields
    response = await client.post("/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_task_is_created_with_its_next_due_time_and_shown_as_stored(api) -> None:
    task = await _create(api)

    assert set(task) == {
        "id", "name", "prompt", "profile", "schedule", "target", "missed", "paused", "webhook_url", "next_run_at", "session_id",
        "owner", "created_at", "updated_at", "unread", "last_run",
    }  # fmt: skip
    assert (task["schedule"], task["target"], task["missed"], task["paused"], task["profile"]) == (CRON, "new_chat", "skip", False, "assistant")
    due = datetime.datetime.fromisoformat(task["next_run_at"]).astimezone(datetime.timezone.utc)
    berlin = due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute, berlin.second, berlin.weekday() < 5) == (7, 0, 0, True)
    assert (task["unread"], task["last_run"], task["webhook_url"]) == (0, None, None)
    assert "webhook_secret" not in task
    assert (await api.get(f"/v1/tasks/{task['id']}")).json() == task
    assert (await api.get("/v1/tasks")).json() == {"tasks": [task]}


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ({"cron": "61 * * * *"}, "'schedule.cron': '61 * * * *' is not a cron expression croniter reads"),
        ({"cron": "* * *"}, "'schedule.cron': '* * *' has 3 fields; give 5 (minute hour day month weekday) or 6 (the same, then seconds)."),
        ({"cron": "0 0 31 2 *"}, "'schedule.cron': '0 0 31 2 *' matches no date, so it would never run."),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "'schedule.timezone': 'Mars/Olympus' is not an IANA time zone"),
        ({"every_seconds": 0}, "'schedule.every_seconds': Input should be greater than or equal to 1."),
        ({"at": ["2030-01-01T08:00:00"]}, "'schedule.at': 2030-01-01T08:00:00 has no offset: add one, such as +01:00 or Z."),
        ({"at": ["next tuesday"]}, "'schedule.at.0': Input should be a valid datetime or date"),
        ({"at": ["2001-01-01T08:00:00+00:00"]}, "'schedule.at': 2001-01-01T08:00:00+00:00 is in the past"),
        ({"hourly": True}, "'schedule': give one of"),
    ],
)
async def test_an_invalid_schedule_is_refused_naming_the_field_and_why(api, database_url, schedule, reason) -> None:
    response = await api.post("/v1/tasks", json={"name": "x", "prompt": "y", "schedule": schedule})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_task"
    assert error["message"].startswith(reason), error["message"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM scheduled_tasks").fetchone() == (0,)


async def test_other_bad_fields_are_refused_with_their_names(api) -> None:
    cases = [
        ({"name": "", "prompt": "y", "schedule": CRON}, "'name': String should have at least 1 character."),
        ({"name": "x", "prompt": " ", "schedule": CRON}, "'prompt': prompt must not be empty."),
        ({"name": "x", "prompt": "y", "schedule": CRON, "profile": "nobody"}, "'profile': no agent profile is named 'nobody'"),
        ({"name": "x", "prompt": "y", "schedule": CRON, "target": "old_chat"}, "'target': Input should be 'new_chat' or 'same_chat'."),
        ({"name": "x", "prompt": "y", "schedule": CRON, "webhook_url": "file:///etc/passwd"}, "'webhook_url': 'file:///etc/passwd' is not an http"),
        ({"name": "x", "prompt": "y", "schedule": CRON, "colour": "red"}, "'colour' is not a field of a task."),
        ({"prompt": "y", "schedule": CRON}, "'name': Field required."),
    ]
    for body, reason in cases:
        response = await api.post("/v1/tasks", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_task"), body
        assert response.json()["error"]["message"].startswith(reason), response.json()["error"]["message"]


async def test_pause_resume_edit_and_delete(api, database_url) -> None:
    task = await _create(api, schedule={"every_seconds": 3600})

    paused = (await api.patch(f"/v1/tasks/{task['id']}", json={"paused": True})).json()
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    resumed = (await api.patch(f"/v1/tasks/{task['id']}", json={"paused": False})).json()
    assert resumed["paused"] is False and resumed["next_run_at"] is not None

    edited = (await api.patch(f"/v1/tasks/{task['id']}", json={"schedule": {"cron": "30 6 * * *"}, "prompt": "Summarise the news."})).json()
    assert (edited["schedule"], edited["prompt"]) == ({"cron": "30 6 * * *", "timezone": "UTC"}, "Summarise the news.")
    assert edited["next_run_at"].endswith("06:30:00+00:00")
    refused = await api.patch(f"/v1/tasks/{task['id']}", json={"schedule": {"cron": "nonsense"}})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_task")
    assert (await api.get(f"/v1/tasks/{task['id']}")).json() == edited  # a refused change changes nothing

    assert (await api.delete(f"/v1/tasks/{task['id']}")).status_code == 204
    assert (await api.get(f"/v1/tasks/{task['id']}")).json()["error"]["code"] == "task_not_found"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM scheduled_tasks").fetchone() == (0,)


async def test_run_now_starts_a_run_in_a_new_chat_with_its_turn_queued(api, database_url) -> None:
    task = await _create(api, paused=True)

    response = await api.post(f"/v1/tasks/{task['id']}/run")

    assert response.status_code == 202, response.text
    run = response.json()["run"]
    assert (run["outcome"], run["manual"], run["late"], run["finished_at"], run["webhook"], run["read"]) == ("running", True, False, None, None, True)
    chat = (await api.get(f"/v1/sessions/{run['session_id']}")).json()
    assert chat["title"] == "Morning digest"
    [message] = (await api.get(f"/v1/sessions/{run['session_id']}/messages")).json()["messages"]
    assert (message["content"], message["meta"]["task"]) == ("Summarise my day.", {"id": task["id"], "name": "Morning digest", "run_id": run["id"]})
    with psycopg.connect(database_url) as conn:
        [args] = conn.execute("SELECT args FROM procrastinate_jobs WHERE task_name = 'soma.turn'").fetchone()
    assert args.pop("request_id") == response.headers["x-request-id"]  # the worker's log lines for the turn carry it
    assert args == {"session_id": run["session_id"], "message_id": message["id"], "run_id": run["id"]}
    assert (await api.get(f"/v1/tasks/{task['id']}/runs")).json() == {"runs": [run]}


async def test_a_same_chat_task_keeps_the_chat_its_first_run_made(api) -> None:
    task = await _create(api, target="same_chat")

    first = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]
    second = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]

    assert first["session_id"] == second["session_id"] == (await api.get(f"/v1/tasks/{task['id']}")).json()["session_id"]
    assert len((await api.get(f"/v1/sessions/{first['session_id']}/messages")).json()["messages"]) == 2


async def test_members_see_and_change_only_their_own_tasks_and_admins_see_all(api, gateway) -> None:
    ann, ann_id = await _member(api, gateway, "ann")
    bob, _ = await _member(api, gateway, "bob")
    async with ann, bob:
        task = await _create(ann)
        assert task["owner"] == f"key:{ann_id}"
        for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/run"), ("GET", "/runs"), ("POST", "/read")):
            response = await bob.request(method, f"/v1/tasks/{task['id']}{path}", json={"paused": True} if method == "PATCH" else None)
            assert (response.status_code, response.json()["error"]["code"]) == (404, "task_not_found"), (method, path)
        assert (await bob.get("/v1/tasks")).json() == {"tasks": []}
        assert [t["id"] for t in (await api.get("/v1/tasks")).json()["tasks"]] == [task["id"]]
        assert (await api.patch(f"/v1/tasks/{task['id']}", json={"paused": True})).status_code == 200


async def test_a_webhook_secret_is_shown_on_create_and_on_rotation_only(api) -> None:
    task = await _create(api, webhook_url="https://hooks.example.com/soma")

    secret = task.pop("webhook_secret")
    assert len(secret) >= 40 and task["webhook_url"] == "https://hooks.example.com/soma"
    assert "webhook_secret" not in (await api.get(f"/v1/tasks/{task['id']}")).json()
    rotated = (await api.patch(f"/v1/tasks/{task['id']}", json={"rotate_webhook_secret": True})).json()
    assert rotated["webhook_secret"] not in (secret, None)
    assert "webhook_secret" not in (await api.patch(f"/v1/tasks/{task['id']}", json={"name": "Renamed"})).json()


async def test_reading_a_task_clears_its_unread_runs(api, database_url) -> None:
    task = await _create(api)
    run = (await api.post(f"/v1/tasks/{task['id']}/run")).json()["run"]
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE task_runs SET outcome = 'answered', finished_at = now() WHERE id = %s", (run["id"],))
    assert (await api.get(f"/v1/tasks/{task['id']}")).json()["unread"] == 1

    assert (await api.post(f"/v1/tasks/{task['id']}/read")).status_code == 204

    shown = (await api.get(f"/v1/tasks/{task['id']}")).json()
    assert (shown["unread"], shown["last_run"]["read"]) == (0, True)


async def test_an_unknown_task_is_404_naming_it(api) -> None:
    unknown = uuid.uuid4()
    response = await api.post(f"/v1/tasks/{unknown}/run")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "task_not_found",
        "message": f"Task '{unknown}' does not exist. No scheduled task has this id, or it is someone else's. "
        "`GET /v1/tasks` (or `soma tasks list`) lists yours.",
    }
    assert scheduler.GRACE_SECONDS > 0
