"""Agent profiles, child chats and scheduled tasks in backups: tasks and chats always come back, profiles as the settings do."""

from __future__ import annotations

import json

import httpx
import psycopg

from soma.backup import apply
from tests.backup.conftest import KEEPER, Installed, build, entries_of, make_archive, populate_agents
from tests.backup.test_restore import query, upload
from tests.backup.test_tool_config import upload_and_apply

TASKS = (
    "SELECT id::text, owner, name, prompt, profile, schedule, target, session_id::text, missed, paused, webhook_url, webhook_secret,"
    " next_run_at, created_at, updated_at FROM scheduled_tasks ORDER BY id"
)
RUNS = (
    "SELECT id, task_id::text, due_at, manual, late, outcome, reason, started_at, finished_at, session_id::text, message_id, webhook, read_at"
    " FROM task_runs ORDER BY id"
)
CHATS = "SELECT id::text, title, owner, profile, parent_session_id::text, parent_call_id, depth FROM chat_sessions ORDER BY depth"
PROFILES = "SELECT name, description, system_prompt, model, tools, max_tool_steps FROM agent_profiles ORDER BY name"
RUNNING = "INSERT INTO task_runs (task_id, due_at, started_at, session_id) SELECT id, now(), now(), session_id FROM scheduled_tasks RETURNING id"


async def test_tasks_survive_backup_and_restore(installed: Installed, api: httpx.AsyncClient) -> None:
    url = installed.database_url
    agents = await populate_agents(url, installed)
    [(running,)] = query(url, RUNNING)  # a run under way while the backup is made
    archive = await make_archive(url)
    tasks, runs, chats = query(url, TASKS), query(url, RUNS), query(url, CHATS)
    with psycopg.connect(url) as conn:  # after the backup: the task deleted (with its runs), another made
        conn.execute("DELETE FROM scheduled_tasks")
        conn.execute("INSERT INTO scheduled_tasks (owner, name, prompt, schedule) VALUES ('key:1', 'Later', 'Later', '{\"every_seconds\": 60}')")

    preview = (await upload(api, archive)).json()
    assert {kind: preview["counts"][kind] for kind in ("sessions", "tasks", "task_runs")} == {"sessions": 2, "tasks": 1, "task_runs": 2}
    applied = await api.post(f"/v1/restores/{preview['id']}/apply", json={"mode": "preserve_settings"})

    assert applied.status_code == 200, applied.text
    assert query(url, TASKS) == tasks
    finished, interrupted = query(url, RUNS)
    assert finished == runs[0] and finished[0] == agents.run_id
    assert interrupted[:5] + interrupted[7:8] + interrupted[9:] == runs[1][:5] + runs[1][7:8] + runs[1][9:]
    assert (interrupted[0], interrupted[5], interrupted[6], interrupted[8] is not None) == (running, "failed", apply.INTERRUPTED, True)
    assert query(url, CHATS) == chats
    assert [chat["id"] for chat in (await api.get("/v1/sessions")).json()["sessions"]] == [installed.session_id]
    child = (await api.get(f"/v1/sessions/{agents.child_id}")).json()
    assert (child["parent_session_id"], child["depth"], child["profile"]) == (installed.session_id, 1, "researcher")
    [(later,)] = query(url, RUNNING.replace("now()", "now() + interval '1 minute'"))
    assert later > running  # a new run never takes a restored run's id


async def test_profiles_are_restored_like_the_settings_and_a_task_whose_profile_is_not_kept_runs_on_the_settings(
    installed: Installed, api: httpx.AsyncClient
) -> None:
    url = installed.database_url
    await populate_agents(url, installed)
    archive = await make_archive(url)
    backed_up = query(url, PROFILES)
    query(url, "DELETE FROM scheduled_tasks RETURNING id")  # so `keeper` can be deleted
    assert (await api.delete("/v1/profiles/keeper")).status_code == 204
    assert (await api.post("/v1/profiles", json={"name": "newbie", "system_prompt": "Learn."})).status_code == 201
    changed = query(url, PROFILES)

    preview = await upload_and_apply(api, archive, "preserve_settings")
    diff = {"key": "agent_profiles", "current": ["assistant", "coder", "newbie", "researcher"], "backup": ["assistant", "coder", "keeper", "researcher"]}
    assert diff in preview["settings_diff"]
    assert query(url, PROFILES) == changed
    assert query(url, "SELECT name, profile FROM scheduled_tasks") == [("Nightly log", None)]

    await upload_and_apply(api, archive, "overwrite")
    assert query(url, PROFILES) == backed_up
    assert (await api.get("/v1/profiles/keeper")).json() == KEEPER.model_dump()
    assert query(url, "SELECT name, profile FROM scheduled_tasks") == [("Nightly log", "keeper")]


def _tampered(entries: list[tuple[str, bytes]], name: str, change) -> bytes:
    """The archive with one entry's records changed (its checksum made again)."""
    lines = [json.loads(line) for line in dict(entries)[name].splitlines()]
    data = b"".join(json.dumps(change(record)).encode() + b"\n" for record in lines)
    return build([(n, data if n == name else d) for n, d in entries])


async def test_a_child_chat_without_its_parent_a_run_without_its_task_and_a_bad_profile_are_refused_before_anything_changes(
    installed: Installed, api: httpx.AsyncClient
) -> None:
    await populate_agents(installed.database_url, installed)
    entries = entries_of(await make_archive(installed.database_url))
    orphan = "00000000-0000-4000-8000-000000000001"
    lost_parent = _tampered(entries, "soma-backup/sessions/000001.jsonl", lambda r: {**r, "parent_session_id": orphan} if r["depth"] else r)
    lost_task = _tampered(entries, "soma-backup/task_runs/000001.jsonl", lambda r: {**r, "task_id": orphan})
    settings = json.loads(dict(entries)["soma-backup/settings.json"])
    settings["profiles"].append({"name": "Evil One", "system_prompt": "Obey."})
    bad_profile = build([(n, json.dumps(settings).encode() if n.endswith("settings.json") else d) for n, d in entries])
    child_line = 1 + [json.loads(line)["depth"] for line in dict(entries)["soma-backup/sessions/000001.jsonl"].splitlines()].index(1)

    for archive, message in (
        (lost_parent, f"soma-backup/sessions/000001.jsonl line {child_line} is a child of session {orphan}, which the backup lacks."),
        (lost_task, f"soma-backup/task_runs/000001.jsonl line 1 is a run of task {orphan}, which the backup lacks."),
        (bad_profile, "soma-backup/settings.json holds agent profiles this Soma refuses: 'name': Value error, use 1-40 lower-case letters, "
         "digits, - or _, starting with a letter or digit (got 'Evil One')."),
    ):  # fmt: skip
        refused = await upload(api, archive)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "backup_data_invalid")
        assert refused.json()["error"]["message"].startswith(message), refused.json()["error"]["message"]
    assert query(installed.database_url, "SELECT count(*) FROM restores") == [(0,)]
