"""The tunnel under the emergency lockdown: opening it is refused, and the supervisor keeps cloudflared stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma import config, errors
from soma.auth import admin
from soma.db import engine as db_engine
from soma.emergency import lockdown
from soma.tunnel import state
from tests.tunnel.test_supervisor import PUBLIC_URL, run_supervisor  # noqa: F401  (the fixture)

LOCKED = (
    "Soma is in lockdown ('drill'): after the incident is dealt with, lift it with "
    "`soma emergency-stop --lift --reason TEXT` (docs/runbooks/emergency-shutdown.md)."
)
FIX = 'The tunnel stays shut: opening it now would put an unprotected Soma on the internet. Fix what is named, then switch it on again (docs/architecture.md, "Public access").'


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test's database with an admin who has a password, so only the lockdown can refuse."""
    engine = db_engine.create(database_url, pool_size=2)
    async with engine.begin() as conn:
        await admin.create_user(conn, admin.Actor("test"), "ann", "correct horse battery staple", "admin")
    yield engine
    await engine.dispose()


async def _lock(engine: AsyncEngine, active: bool) -> None:
    async with engine.begin() as conn:
        await (lockdown.enter(conn, "drill", "test") if active else lockdown.lift(conn, "test"))


async def test_opening_the_tunnel_is_refused_during_a_lockdown_naming_the_lift(engine) -> None:
    settings = config.Settings(_env_file=None, public_url=PUBLIC_URL)
    await _lock(engine, True)
    async with engine.begin() as conn:
        with pytest.raises(errors.TunnelRefused) as refused:
            await state.switch(conn, admin.Actor("cli:test"), settings, True, "quick")
    assert refused.value.message == f"{LOCKED} {FIX}"
    async with engine.connect() as conn:
        assert (await state.read(conn))["enabled"] is False

    await _lock(engine, False)
    async with engine.begin() as conn:
        assert (await state.switch(conn, admin.Actor("cli:test"), settings, True, "quick"))["enabled"] is True


async def test_closing_the_tunnel_is_allowed_during_a_lockdown(engine) -> None:
    await _lock(engine, True)
    async with engine.begin() as conn:
        row = await state.switch(conn, admin.Actor("cli:test"), config.Settings(_env_file=None), False)
    assert row["enabled"] is False


async def test_the_supervisor_keeps_cloudflared_stopped_during_a_lockdown_even_when_enabled(run_supervisor, engine) -> None:
    tunnel = await run_supervisor()
    await tunnel.want(True, "quick")
    await tunnel.state_is("connected")

    await _lock(engine, True)  # `enabled` stays true: the lockdown alone must stop cloudflared
    await tunnel.until(lambda: tunnel.events("exit"), "cloudflared to exit", timeout=3)
    row = await tunnel.state_is("off", timeout=2)
    assert (row["enabled"], row["public_url"]) == (True, None)
    assert [e["code"] for e in tunnel.events("exit")] == [0]

    await _lock(engine, False)
    await tunnel.state_is("connected")
    assert len(tunnel.events("start")) == 2
