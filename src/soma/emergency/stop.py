"""The emergency stop and its lift: each step run, timed and reported on its own, straight on PostgreSQL and Vault.

No step needs a gateway or a worker to be up; each one commits by itself, so one failing leaves the
others done, and running the stop again repeats nothing harmful. Running processes follow within a
second or two: they watch the lockdown row (emergency.lockdown.Watch).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config, errors
from soma.auth import admin, logins
from soma.conversations import events
from soma.conversations import queue as turn_queue
from soma.db import tables
from soma.emergency import lockdown, slm_key
from soma.emergency.report import Report, Step

TURNS_WAIT = 5.0  # seconds for the workers to cancel their running turns
TURNS_POLL = 0.1  # seconds between looks at the running turns

OnStep = Callable[[Step], None]

_RELEASE_TURNS = sa.text(
    "UPDATE procrastinate_jobs SET attempts = 0, scheduled_at = now() WHERE status = 'todo' AND queue_name = :queue"
)  # each refusal under lockdown counted as an attempt (worker.tasks.TurnRetry) and pushed scheduled_at out

_RUNNING_TURNS = sa.text(
    """
    SELECT count(*) FILTER (WHERE w.last_heartbeat > now() - make_interval(secs => :stalled)) AS live,
           count(*) FILTER (WHERE w.id IS NULL OR w.last_heartbeat <= now() - make_interval(secs => :stalled)) AS orphaned
    FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
    WHERE j.status = 'doing' AND j.queue_name = :queue
    """
)  # turns being run by workers alive now, and turns left 'doing' by workers that died


async def stop(
    engine: AsyncEngine,
    settings: config.Settings,
    reason: str,
    actor: admin.Actor,
    revoke_slm_key: bool = False,
    on_step: OnStep | None = None,
) -> Report:
    """Lock Soma down, switch the tunnel off, revoke every key and session, close streams, cancel turns;
    with revoke_slm_key delete the SLM key's current version in Vault. Then audit and store the report."""
    report = Report("emergency.stop", reason, actor.name)
    run = _runner(report, on_step)
    running = await _running_turns(engine, settings.worker_stalled_threshold)  # before the workers start cancelling
    await run("lockdown", lambda: _lockdown_on(engine, reason, actor.name))
    await run("tunnel", lambda: _tunnel_off(engine, actor.name))
    await run("access", lambda: _revoke_access(engine, actor))
    await run("streams", lambda: _close_streams(engine))
    await run("turns", lambda: _turns_cancelled(engine, settings.worker_stalled_threshold, running))
    if revoke_slm_key:
        await run("slm_key", lambda: asyncio.to_thread(slm_key.delete_current, settings))
    await _finish(report, run, engine, settings, actor)
    return report


async def lift(engine: AsyncEngine, settings: config.Settings, reason: str, actor: admin.Actor, on_step: OnStep | None = None) -> Report:
    """End the lockdown; keys and sessions stay revoked (the operator makes new ones)."""
    report = Report("emergency.lift", reason, actor.name)
    run = _runner(report, on_step)
    await run("lockdown", lambda: _lockdown_off(engine, actor.name))
    await run("turns", lambda: _release_turns(engine))
    await _finish(report, run, engine, settings, actor)
    return report


def _runner(report: Report, on_step: OnStep | None) -> Callable[[str, Callable[[], Awaitable[str]]], Awaitable[None]]:
    async def run(name: str, work: Callable[[], Awaitable[str]]) -> None:
        started = time.monotonic()
        try:
            ok, detail = True, await work()
        except errors.SomaError as exc:
            ok, detail = False, exc.message
        except Exception as exc:  # a driver or Vault error: the other steps still run
            ok, detail = False, f"{type(exc).__name__}: {_first_line(exc)}"
        step = Step(name, ok, round((time.monotonic() - started) * 1000, 1), detail)
        report.steps.append(step)
        if on_step is not None:
            on_step(step)

    return run


async def _finish(report: Report, run, engine: AsyncEngine, settings: config.Settings, actor: admin.Actor) -> None:
    """The audit entry (with the report so far) and the report file."""

    async def audit() -> str:
        async with engine.begin() as conn:
            await actor.record(conn, report.action, "soma", report.as_dict())
        return f"{report.action} recorded in the audit log"

    async def store() -> str:
        return f"stored in {await asyncio.to_thread(report.store, settings.data_dir)}"

    await run("audit", audit)
    await run("report", store)


async def _lockdown_on(engine: AsyncEngine, reason: str, by: str) -> str:
    async with engine.begin() as conn:
        state, new = await lockdown.enter(conn, reason, by)
    since = f"since {state.started_at:%Y-%m-%d %H:%M:%S %Z} by {state.started_by}"
    return f"on {since}" if new else f"already on {since} ({state.reason})"


async def _lockdown_off(engine: AsyncEngine, by: str) -> str:
    async with engine.begin() as conn:
        state, was_on = await lockdown.lift(conn, by)
    if not was_on:
        return "was not on; nothing to lift"
    return "lifted; API keys and login sessions stay revoked: create new ones (`soma keys create`)"


async def _release_turns(engine: AsyncEngine) -> str:
    """Queued turns run now, in order; the refusals during the lockdown no longer count as attempts."""
    async with engine.begin() as conn:
        released = await conn.execute(_RELEASE_TURNS, {"queue": turn_queue.QUEUE})
    return f"{released.rowcount} queued turns run now, in order"


async def _tunnel_off(engine: AsyncEngine, by: str) -> str:
    t = tables.tunnel_state
    async with engine.begin() as conn:
        changed = await conn.execute(
            sa.update(t).where(t.c.id == 1, t.c.enabled.is_(True)).values(enabled=False, changed_at=sa.func.now(), changed_by=by)
        )
    if changed.rowcount == 0:
        return "already off"
    return "switched off; the tunnel supervisor stops cloudflared"


async def _revoke_access(engine: AsyncEngine, actor: admin.Actor) -> str:
    async with engine.begin() as conn:
        revoked = await admin.revoke_all_keys(conn, actor)
        ended = await logins.end_everyone(conn)
    return f"{revoked} API keys revoked, {ended} login sessions ended"


async def _close_streams(engine: AsyncEngine) -> str:
    async with engine.begin() as conn:
        await events.end_every_stream(conn, events.END_FOR_LOCKDOWN, True)
    return "every gateway told to close its event streams"


async def _running_turns(engine: AsyncEngine, stalled_seconds: float) -> tuple[int, int] | None:
    """(turns run by live workers, turns left 'doing' by dead ones), or None when PostgreSQL cannot say."""
    try:
        async with engine.connect() as conn:
            live, orphaned = (await conn.execute(_RUNNING_TURNS, {"stalled": stalled_seconds, "queue": turn_queue.QUEUE})).one()
    except Exception:  # the steps will each report the database's failure
        return None
    return live, orphaned


async def _turns_cancelled(engine: AsyncEngine, stalled_seconds: float, before: tuple[int, int] | None) -> str:
    """Wait until no live worker runs a turn: each cancels its own on seeing the lockdown."""
    deadline = time.monotonic() + TURNS_WAIT
    while True:
        now = await _running_turns(engine, stalled_seconds)
        if now is None:
            raise errors.DatabaseUnavailable("Cannot read the running turns.")
        live, orphaned = now
        if live == 0:
            break
        if time.monotonic() > deadline:
            raise errors.EmergencyStepFailed(
                f"{live} turns still run after {TURNS_WAIT:.0f}s: their workers did not stop them. "
                "Scale the workers to zero (`kubectl scale deploy --all --replicas=0`, or stop `soma up`)."
            )
        await asyncio.sleep(TURNS_POLL)
    left = f"; {orphaned} turns of dead workers stay queued" if orphaned else ""
    cancelled = before[0] if before else "all"
    return f"{cancelled} running turns cancelled (recorded as failed, reason lockdown){left}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
