"""A task's schedule: parsed and checked whole, and the next due time after a given instant.

Three kinds, as the API takes them: `{"cron", "timezone"}` (5 fields, or 6 with seconds as the
sixth, last field, as croniter and procrastinate read it), `{"every_seconds"}`, and `{"at": [...]}`
(ISO datetimes with their offsets). Due times are aware datetimes; the stored due time drives the
next one, never the clock of whoever computes it.

Daylight saving time, for cron in a zone that has it (tests/schedules/test_timing.py):
- a wall time that does not exist (the hour skipped in spring) runs at the first instant after the gap;
- a wall time that happens twice (the hour repeated in autumn) runs twice when the hour field starts
  with `*` (every hour, or every n hours: it is real time that passes), else once, at the first.
"""

from __future__ import annotations

import datetime
import functools
import math
import zoneinfo
from typing import Annotated, Any

import croniter
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

MAX_EVERY_SECONDS = 366 * 24 * 3600  # a year and a day: longer intervals are dates, not intervals
MAX_DATES = 100  # of an `at` schedule
MAX_CRON_CHARS = 200
UTC = datetime.timezone.utc


class Cron(BaseModel):
    """`{"cron": "30 7 * * 1-5", "timezone": "Europe/Berlin"}`; `* * * * * */2` is every 2 seconds."""

    model_config = ConfigDict(extra="forbid")
    cron: str = Field(max_length=MAX_CRON_CHARS, description="5 fields (minute hour day month weekday), or 6 with seconds last.")
    timezone: str = Field("UTC", max_length=64, description="An IANA time zone such as Europe/Berlin; UTC when left out.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) not in (5, 6):
            raise ValueError(f"{value!r} has {len(fields)} fields; give 5 (minute hour day month weekday) or 6 (the same, then seconds)")
        normal = " ".join(fields)
        try:
            croniter.croniter(normal)
        except (croniter.CroniterError, ValueError) as exc:  # a field out of range, a step of 0, a name it does not know
            raise ValueError(f"{value!r} is not a cron expression croniter reads: {exc}") from None
        return normal

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in _zones():
            raise ValueError(f"{value!r} is not an IANA time zone (such as UTC, Europe/Berlin or America/New_York)")
        return value


class Every(BaseModel):
    """`{"every_seconds": 3600}`: the first due time one interval after it is set, then every interval."""

    model_config = ConfigDict(extra="forbid")
    every_seconds: int = Field(ge=1, le=MAX_EVERY_SECONDS, strict=True, description="Seconds between due times, 1 to a year and a day.")


class At(BaseModel):
    """`{"at": ["2026-12-24T18:00:00+01:00", ...]}`: these instants, each once; none left, the task stops."""

    model_config = ConfigDict(extra="forbid")
    at: list[datetime.datetime] = Field(min_length=1, max_length=MAX_DATES, description="ISO datetimes, each with its offset (Z for UTC).")

    @field_validator("at", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise ValueError("each date is an ISO 8601 string such as 2026-12-24T18:00:00+01:00")
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: list[datetime.datetime]) -> list[datetime.datetime]:
        for moment in value:
            if moment.tzinfo is None:
                raise ValueError(f"{moment.isoformat()} has no offset: add one, such as +01:00 or Z")
        try:
            return sorted({moment.astimezone(UTC) for moment in value})
        except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
            raise ValueError("a date is outside the years 1 to 9999 once in UTC") from None


def _kind(value: Any) -> str | None:
    """Which kind a schedule is, by the key that names it."""
    if isinstance(value, BaseModel):
        return {Cron: "cron", Every: "every_seconds", At: "at"}.get(type(value))
    if isinstance(value, dict):
        return next((key for key in ("cron", "every_seconds", "at") if key in value), None)
    return None


Schedule = Annotated[
    Annotated[Cron, Tag("cron")] | Annotated[Every, Tag("every_seconds")] | Annotated[At, Tag("at")],
    Discriminator(
        _kind,
        custom_error_type="schedule_kind",
        custom_error_message='give one of {"cron": "...", "timezone": "..."}, {"every_seconds": n} or {"at": ["<ISO datetime>"]}',
    ),
    Field(description="A cron expression with its time zone, an interval in seconds, or dates."),
]


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA names this machine's zone database knows (read once: it lists the disk)."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def next_after(schedule: Cron | Every | At, after: datetime.datetime) -> datetime.datetime | None:
    """The first due time strictly after `after` (aware), or None when there is none (dates all past, a cron that never matches)."""
    if isinstance(schedule, Every):
        return after + datetime.timedelta(seconds=schedule.every_seconds)
    if isinstance(schedule, At):
        return next((moment for moment in schedule.at if moment > after), None)
    return _cron_next(schedule, after)


def first_due(schedule: Cron | Every | At, now: datetime.datetime) -> datetime.datetime | None:
    """A task's first due time when it is made, resumed or given a new schedule at `now`.

    An interval counts from the next whole second, so the due times of tasks made together fall on
    the same ticks of the scheduler.
    """
    if isinstance(schedule, Every):
        whole = datetime.datetime.fromtimestamp(math.ceil(now.timestamp()), UTC)
        return whole + datetime.timedelta(seconds=schedule.every_seconds)
    return next_after(schedule, now)


def next_from_now(schedule: Cron | Every | At, due: datetime.datetime, now: datetime.datetime) -> datetime.datetime | None:
    """The first due time after `now` that follows `due` on the schedule: where a late task resumes.

    An interval keeps its phase (due + k intervals); cron and dates simply look after `now`.
    """
    if isinstance(schedule, Every) and due <= now:
        steps = math.floor((now - due).total_seconds() / schedule.every_seconds) + 1
        return due + datetime.timedelta(seconds=steps * schedule.every_seconds)
    return next_after(schedule, max(due, now))


def _cron_next(schedule: Cron, after: datetime.datetime) -> datetime.datetime | None:
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    hourly = schedule.cron.split()[1].startswith("*")
    times = croniter.croniter(schedule.cron, after.astimezone(zone))
    try:
        for _ in range(3):  # a repeated wall time is skipped at most once in a row
            due = times.get_next(datetime.datetime)
            if hourly or not _second_of_a_repeated_hour(due, zone):
                return due.astimezone(UTC)
    except croniter.CroniterError:  # no date matches (30 February), or none before croniter gives up looking
        return None
    return None


def _second_of_a_repeated_hour(due: datetime.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """Whether `due` is the second time its wall time happens (the hour repeated when clocks go back)."""
    wall = due.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and due.astimezone(UTC) == second.astimezone(UTC)


def as_json(schedule: Cron | Every | At) -> dict[str, Any]:
    """The schedule as stored and shown; dates in UTC, ISO 8601."""
    return schedule.model_dump(mode="json")
