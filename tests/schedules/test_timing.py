"""Due times: cron in a time zone across daylight saving changes, intervals that keep their phase, dates."""

from __future__ import annotations

import datetime

from pydantic import TypeAdapter

from soma.schedules import timing

UTC = datetime.timezone.utc
SCHEDULE = TypeAdapter(timing.Schedule)


def _due_times(schedule: dict, after: datetime.datetime, count: int) -> list[str]:
    parsed = SCHEDULE.validate_python(schedule)
    found = []
    for _ in range(count):
        after = timing.next_after(parsed, after)
        found.append(after.strftime("%m-%d %H:%M:%SZ"))
    return found


def test_a_daily_time_in_the_hour_repeated_in_autumn_runs_once_at_its_first_occurrence() -> None:
    # Berlin goes from 03:00 CEST back to 02:00 CET on 25 October 2026: 02:30 happens twice.
    daily = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert _due_times(daily, datetime.datetime(2026, 10, 24, 3, tzinfo=UTC), 3) == ["10-25 00:30:00Z", "10-26 01:30:00Z", "10-27 01:30:00Z"]


def test_an_every_twenty_minutes_schedule_runs_through_the_repeated_hour_in_real_time() -> None:
    every_twenty = {"cron": "*/20 * * * *", "timezone": "Europe/Berlin"}
    assert _due_times(every_twenty, datetime.datetime(2026, 10, 24, 23, 50, tzinfo=UTC), 7) == [
        "10-25 00:00:00Z", "10-25 00:20:00Z", "10-25 00:40:00Z", "10-25 01:00:00Z", "10-25 01:20:00Z", "10-25 01:40:00Z", "10-25 02:00:00Z",
    ]  # fmt: skip


def test_a_time_skipped_in_spring_runs_at_the_first_instant_after_the_gap() -> None:
    # Berlin goes from 02:00 CET to 03:00 CEST on 29 March 2026: 02:30 does not exist that day.
    daily = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert _due_times(daily, datetime.datetime(2026, 3, 28, 3, tzinfo=UTC), 2) == ["03-29 01:00:00Z", "03-30 00:30:00Z"]


def test_six_fields_put_the_seconds_last() -> None:
    every_two_seconds = {"cron": "* * * * * */2"}
    assert _due_times(every_two_seconds, datetime.datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), 3) == [
        "01-01 00:00:02Z", "01-01 00:00:04Z", "01-01 00:00:06Z",
    ]  # fmt: skip


def test_an_interval_resumes_after_downtime_on_its_own_phase() -> None:
    every_minute = SCHEDULE.validate_python({"every_seconds": 60})
    due = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    now = datetime.datetime(2026, 1, 1, 15, 7, 30, tzinfo=UTC)
    assert timing.next_from_now(every_minute, due, now) == datetime.datetime(2026, 1, 1, 15, 8, 0, tzinfo=UTC)
    assert timing.first_due(every_minute, datetime.datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)) == datetime.datetime(
        2026, 1, 1, 12, 1, 1, tzinfo=UTC
    )  # from the next whole second


def test_dates_run_in_order_each_once_and_then_none() -> None:
    dates = SCHEDULE.validate_python({"at": ["2026-12-24T18:00:00+01:00", "2026-12-24T16:00:00Z", "2026-12-24T17:00:00Z"]})
    assert timing.as_json(dates) == {"at": ["2026-12-24T16:00:00Z", "2026-12-24T17:00:00Z"]}  # the same instant once
    last = datetime.datetime(2026, 12, 24, 17, tzinfo=UTC)
    assert timing.next_after(dates, last - datetime.timedelta(seconds=1)) == last
    assert timing.next_after(dates, last) is None
