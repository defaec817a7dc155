"""`soma tasks`: create, list, pause, resume, run now and delete scheduled tasks from the command line, as an operator would."""

from __future__ import annotations

import json

import psycopg

from tests import procs

FIX = 'The task was not saved. Fix the named field (a schedule is {"cron", "timezone"}, {"every_seconds"} or {"at": [dates]}) and send it again.'


def soma(database_url: str, *args: str) -> tuple[int, str, str]:
    done = procs.run_soma(procs.soma_env(database_url), "tasks", *args, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_a_task_is_created_listed_paused_resumed_run_and_deleted(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        [admin_id] = conn.execute("INSERT INTO users (username, password_hash, role) VALUES ('ops', 'x', 'admin') RETURNING id").fetchone()

    code, out, err = soma(database_url, "create", "Digest", "--prompt", "Summarise the news.", "--cron", "0 7 * * *", "--timezone", "Europe/Berlin", "--json")
    assert (code, err) == (0, ""), err
    task = json.loads(out)
    assert (task["owner"], task["schedule"], task["paused"]) == (f"user:{admin_id}", {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}, False)
    assert json.loads(soma(database_url, "list", "--json")[1]) == {"tasks": [task]}

    assert soma(database_url, "pause", task["id"]) == (0, f"paused task {task['id']} 'Digest'\n", "")
    code, out, _ = soma(database_url, "resume", task["id"])
    assert code == 0 and out.startswith(f"resumed task {task['id']} 'Digest', next run ")
    code, out, _ = soma(database_url, "run", task["id"])
    assert code == 0 and out.startswith("run 1: running in chat ")
    code, out, _ = soma(database_url, "list")
    assert code == 0 and out.startswith(f"{task['id']}  'Digest'  cron '0 7 * * *' Europe/Berlin  next ") and "last: running" in out

    assert soma(database_url, "delete", task["id"]) == (0, f"deleted task {task['id']}\n", "")
    assert soma(database_url, "list") == (0, "no scheduled tasks (add one with `soma tasks create`)\n", "")


def test_an_invalid_cron_is_refused_with_its_reason_and_nothing_is_stored(database_url: str) -> None:
    code, out, err = soma(database_url, "create", "Broken", "--prompt", "x", "--cron", "0 25 * * *")
    assert (code, out) == (1, "")
    assert err == f"error: 'schedule.cron': '0 25 * * *' is not a cron expression croniter reads: [0 25 * * *] is not acceptable, out of range. {FIX}\n"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM scheduled_tasks").fetchone() == (0,)
