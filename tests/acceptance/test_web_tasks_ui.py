"""The Tasks page in a real headless Chromium, against a real gateway and a real worker process.

A task is made through the page's form (a bad cron expression first: the server's reason shows by
the form), run now by the worker through the scripted SLM, and its run read back in its history
with a link to the chat that holds the answer; its unread badge, Pause and Delete follow. The
schedule kinds (every N seconds, dates) go through the same form, a date in the past refused.
What the page sent is read back through the API.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tests.acceptance.browser import browser, console, expect, open_page, page, sync_api  # noqa: F401
from tests.procs import wait_until

PHONE = {"width": 390, "height": 844}
ANSWER = "Hello from the scripted SLM."  # the scripted SLM's answer when nothing is scripted
HOOK = "http://127.0.0.1:9/soma-hook"  # nothing listens there: deliveries fail, which the history shows
# Schedules and the words the page gives them (schedule-words.js); an unusual cron expression is shown as it is.
WORDS = [
    ({"cron": "*/15 * * * *", "timezone": "UTC"}, "Every 15 minutes (UTC)"),
    ({"cron": "30 7 * * 1-5", "timezone": "Europe/Paris"}, "Every Monday to Friday at 07:30 (Europe/Paris)"),
    ({"cron": "0 9,17 * * sat,sun", "timezone": "UTC"}, "Every Saturday and Sunday at 09:00 and 17:00 (UTC)"),
    ({"cron": "0 8 1 * *", "timezone": "UTC"}, "Every month on day 1 at 08:00 (UTC)"),
    ({"cron": "* * * * * */2", "timezone": "UTC"}, "Every 2 seconds (UTC)"),
    ({"cron": "5 * * * *", "timezone": "UTC"}, "Every hour at 5 minutes past (UTC)"),
    ({"cron": "0 0 29 2 *", "timezone": "UTC"}, 'Cron "0 0 29 2 *" (UTC)'),
    ({"every_seconds": 3600}, "Every hour"),
    ({"every_seconds": 90}, "Every 90 seconds"),
]


def save(page: sync_api.Page, method: str) -> sync_api.Response:
    with page.expect_response(lambda r: r.request.method == method and "/v1/tasks" in r.url) as response:
        page.get_by_test_id("task-save").click()
    return response.value


def the_row(page: sync_api.Page) -> sync_api.Locator:
    return page.get_by_test_id("task-row")


def tasks(stack) -> list[dict]:
    return stack.client.get(stack.url + "/v1/tasks").json()["tasks"]


def test_a_task_made_on_the_page_runs_now_links_its_chat_then_is_marked_read_paused_and_deleted(stack, page, console) -> None:
    console.allow_http_errors(422)
    worker = stack.launch_worker()  # it starts while the task is made
    open_page(page, stack.url, "tasks")
    expect(page.get_by_test_id("tasks-empty")).to_be_visible()

    page.get_by_test_id("task-new").click()
    page.get_by_test_id("task-form-name").fill("Morning digest")
    page.get_by_test_id("task-form-prompt").fill("Say hello.")
    expect(page.get_by_test_id("task-form-profile")).to_have_value("assistant")
    expect(page.get_by_test_id("task-form-kind")).to_have_value("cron")
    page.get_by_test_id("task-form-cron").fill("61 * * * *")
    page.get_by_test_id("task-form-timezone").fill("Europe/Paris")
    refused = save(page, "POST")
    assert refused.status == 422
    expect(page.get_by_test_id("task-form-error-message")).to_have_text(refused.json()["error"]["message"])
    expect(page.get_by_test_id("task-form-error-code")).to_have_text("invalid_task")
    assert tasks(stack) == []

    page.get_by_test_id("task-form-cron").fill("0 9 * * *")
    page.get_by_test_id("task-form-webhook_url").fill(HOOK)
    made = save(page, "POST")
    assert made.status == 201, made.text
    assert made.request.post_data_json == {
        "name": "Morning digest",
        "prompt": "Say hello.",
        "profile": "assistant",
        "schedule": {"cron": "0 9 * * *", "timezone": "Europe/Paris"},
        "target": "new_chat",
        "missed": "skip",
        "webhook_url": HOOK,
    }
    task = made.json()
    expect(page.get_by_test_id("task-secret-value")).to_have_text(task["webhook_secret"])  # shown once
    page.get_by_test_id("task-secret-done").click()
    expect(page.get_by_test_id("task-form-card")).to_be_hidden()
    assert "webhook_secret" not in tasks(stack)[0]

    row = the_row(page)
    expect(row.get_by_test_id("task-name")).to_have_text("Morning digest")
    expect(row.get_by_test_id("task-schedule")).to_have_text("Every day at 09:00 (Europe/Paris)")
    expect(row.get_by_test_id("task-next-run")).to_contain_text("Next run ")
    expect(row.get_by_test_id("task-next-run").locator("time")).to_have_attribute("datetime", task["next_run_at"])

    stack.wait_ready(worker)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/run")) as ran:
        row.get_by_test_id("task-run-now").click()
    assert ran.value.status == 202
    run = row.get_by_test_id("task-run")
    expect(run).to_have_count(1)  # the history opened by itself
    expect(run).to_have_attribute("data-outcome", "answered")
    expect(run.get_by_test_id("task-run-outcome")).to_have_text("Answered")
    expect(run.get_by_test_id("task-run-manual")).to_have_text("Run now")
    expect(run.get_by_test_id("task-run-late")).to_have_count(0)
    expect(run.get_by_test_id("task-run-webhook")).to_be_visible()
    [stored] = stack.client.get(f"{stack.url}/v1/tasks/{task['id']}/runs").json()["runs"]
    expect(run.get_by_test_id("task-run-chat")).to_have_attribute("href", f"#/chats/{stored['session_id']}")
    page.screenshot(path="/tmp/soma-tasks.png")

    run.get_by_test_id("task-run-chat").click()
    expect(page).to_have_url(re.compile(f"#/chats/{stored['session_id']}$"))
    answer = page.locator('[data-testid="message"][data-role="assistant"]')
    expect(answer.get_by_test_id("message-content")).to_have_text(ANSWER)
    expect(page.get_by_test_id("chat-profile")).to_have_text("assistant")

    # A run finished while its history was shut counts as unread until the history is opened.
    assert stack.client.post(f"{stack.url}/v1/tasks/{task['id']}/run").status_code == 202
    wait_until(lambda: tasks(stack)[0]["unread"] == 1, 30, "the second run to finish")
    open_page(page, stack.url, "tasks")
    expect(row.get_by_test_id("task-unread")).to_have_text("1 new")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/read")) as read:
        row.get_by_test_id("task-runs-toggle").click()
    assert read.value.status == 204
    expect(row.get_by_test_id("task-unread")).to_have_count(0)
    expect(row.get_by_test_id("task-run")).to_have_count(2)
    assert tasks(stack)[0]["unread"] == 0
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the list and history fit a phone
    row.screenshot(path="/tmp/soma-tasks-runs-phone.png")

    with page.expect_response(lambda r: r.request.method == "PATCH") as paused:
        row.get_by_test_id("task-pause").click()
    assert paused.value.request.post_data_json == {"paused": True}
    expect(row).to_have_attribute("data-paused", "true")
    expect(row.get_by_test_id("task-paused")).to_have_text("Paused")
    expect(row.get_by_test_id("task-resume")).to_be_visible()
    assert tasks(stack)[0]["paused"] is True

    row.get_by_test_id("task-edit").click()
    expect(page.get_by_test_id("task-form-name")).to_have_value("Morning digest")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # and the form
    page.screenshot(path="/tmp/soma-tasks-phone.png", full_page=True)
    page.get_by_test_id("task-cancel").click()

    row.get_by_test_id("task-delete").click()
    row.get_by_test_id("task-delete-confirm").click()
    expect(the_row(page)).to_have_count(0)
    expect(page.get_by_test_id("tasks-empty")).to_be_visible()
    assert tasks(stack) == []


def test_the_form_sends_an_interval_and_dates_shows_a_past_date_refused_and_schedules_read_as_words(stack, page, console) -> None:
    console.allow_http_errors(422)
    open_page(page, stack.url, "tasks")
    page.get_by_test_id("task-new").click()
    page.get_by_test_id("task-form-name").fill("Stretch")
    page.get_by_test_id("task-form-prompt").fill("Remind me to stretch.")
    page.get_by_test_id("task-form-kind").select_option("every")
    expect(page.get_by_test_id("task-form-cron")).to_be_hidden()
    page.get_by_test_id("task-form-every_seconds").fill("300")
    page.get_by_test_id("task-form-target").select_option("same_chat")
    page.get_by_test_id("task-form-missed").select_option("run_once")
    made = save(page, "POST")
    assert made.status == 201, made.text
    sent = made.request.post_data_json
    assert (sent["schedule"], sent["target"], sent["missed"], sent["webhook_url"]) == ({"every_seconds": 300}, "same_chat", "run_once", None)
    row = the_row(page)
    expect(row.get_by_test_id("task-schedule")).to_have_text("Every 5 minutes")
    expect(page.get_by_test_id("task-secret")).to_be_hidden()  # no webhook, no secret

    # Edit into dates: one in the past is refused with the server's reason, one ahead is kept.
    row.get_by_test_id("task-edit").click()
    page.get_by_test_id("task-form-kind").select_option("at")
    page.get_by_test_id("task-date").fill("2020-01-02T03:04:05")
    refused = save(page, "PATCH")
    assert refused.status == 422
    expect(page.get_by_test_id("task-form-error-message")).to_have_text(refused.json()["error"]["message"])
    ahead = (datetime.now() + timedelta(days=3)).replace(microsecond=0)
    page.get_by_test_id("task-date").fill(ahead.isoformat())
    saved = save(page, "PATCH")
    assert saved.status == 200, saved.text
    [at] = saved.request.post_data_json["schedule"]["at"]
    assert datetime.fromisoformat(at) == ahead.astimezone()  # the reader's local time, sent with its offset
    expect(row.get_by_test_id("task-schedule")).to_contain_text("Once, on ")
    assert datetime.fromisoformat(tasks(stack)[0]["schedule"]["at"][0]) == ahead.astimezone()

    described = page.evaluate(
        """async (schedules) => {
            const { describeSchedule } = await import("/static/schedule-words.js");
            return schedules.map((schedule) => describeSchedule(schedule));
        }""",
        [schedule for schedule, _ in WORDS],
    )
    assert described == [words for _, words in WORDS]
